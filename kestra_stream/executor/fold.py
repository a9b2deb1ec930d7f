"""``fold(state, event, flow) -> (state, commands)``: every orchestration rule, with no I/O.

The flow is an argument rather than part of the state: a flow revision never changes, so
backends keep it once (a flows table, a compacted topic) instead of copying it into every
state snapshot. Time comes in on the event; ids are derived from what they name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.executor import _batches, _flow_rules
from kestra_stream.executor._flow_rules import CORRELATION_ID
from kestra_stream.executor._working import ROOT, Working
from kestra_stream.executor.commands import AcquireSlot, Command, RestartExecution, ScheduleTimer
from kestra_stream.executor.events import (
    CHANGEABLE_STATES,
    Dequeued,
    Event,
    ExecutionCreated,
    ExecutionReplayed,
    KillRequested,
    LabelsSet,
    PauseRequested,
    Rejected,
    RestartRequested,
    ResumeRequested,
    SubflowEnded,
    SubflowStarted,
    TaskResult,
    TaskRunStateSet,
    TimerFired,
)
from kestra_stream.ids import derive_id
from kestra_stream.models.execution import Attempt, Execution, ExecutionMetadata, TaskRun
from kestra_stream.models.state import State, StateType
from kestra_stream.models.task import (
    FlowableTask,
    LogLevel,
    PauseTask,
    RunnableTask,
    SubflowBatchesTask,
    SubflowTask,
)

if TYPE_CHECKING:
    from kestra_stream.models.flow import Flow


class ExecutionState(BaseModel):
    """What the executor keeps per execution: the execution and the environment it was created with."""

    model_config = ConfigDict(frozen=True)

    execution: Execution
    envs: dict[str, str] = Field(default_factory=dict)
    globals: dict[str, Any] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Final state reached and every afterExecution task run ended."""
        execution = self.execution
        return execution.state.current.is_terminated and all(
            tr.current.is_terminated for tr in execution.task_run_list)


def fold(state: ExecutionState | None, event: Event, flow: Flow) -> tuple[ExecutionState | None, list[Command]]:
    if isinstance(event, ExecutionCreated | ExecutionReplayed):
        if state is not None:
            return state, []  # already created: a redelivered creation
        working, envs, globals_ = _create(event, flow)
    else:
        if state is None:
            return None, []  # an event for an execution that does not exist (yet): nothing to apply
        envs, globals_ = state.envs, state.globals
        working = Working(state.execution, flow, at=event.at, envs=envs, globals_=globals_)
        _HANDLERS[type(event)](working, event)
    working.advance()
    if not working.changed and state is not None:
        return state, working.commands
    return ExecutionState(execution=working.result(), envs=envs, globals=globals_), working.commands


def _create(event: ExecutionCreated | ExecutionReplayed, flow: Flow) -> tuple[Working, dict[str, str], dict[str, Any]]:
    if isinstance(event, ExecutionReplayed):
        execution = _replayed(event, flow)
    else:
        # Every execution belongs to a correlation: its root's id, which children and retries inherit.
        labels = {**flow.labels_dict, CORRELATION_ID: event.execution_id, **event.labels}
        execution = Execution(
            id=event.execution_id, namespace=event.namespace, flow_id=event.flow_id,
            flow_revision=event.flow_revision, inputs=event.inputs, labels=labels,
            state=State.new(StateType.CREATED, event.at), trigger=event.trigger, parent=event.parent,
            schedule_date=event.schedule_date, original_id=event.original_id,
            metadata=event.metadata or ExecutionMetadata(original_created_date=event.at))
    working = Working(execution, flow, at=event.at, envs=event.envs, globals_=event.globals)
    working.changed = True
    if isinstance(event, ExecutionCreated):
        for check in event.failed_checks:
            working.log(LogLevel.ERROR if check.fail else _CHECK_LEVELS.get(check.style, LogLevel.INFO),
                        f"Flow check failed: {check.message}")
        if any(check.fail for check in event.failed_checks):
            working.set_execution_state(StateType.FAILED)
            working.end()
        elif event.start_at is not None and event.start_at > event.at:
            # A flow retry's next execution waits, CREATED, for the retry interval.
            working.commands.append(ScheduleTimer(
                execution_id=execution.id, timer_id=f"start:{execution.id}", fire_at=event.start_at,
                purpose="execution_start", taskrun_id="", attempt=0))
        else:
            _begin(working, queue=True)
    else:
        _begin(working, queue=False)
    return working, dict(event.envs), dict(event.globals)


_CHECK_LEVELS = {"ERROR": LogLevel.ERROR, "WARNING": LogLevel.WARN, "INFO": LogLevel.INFO, "SUCCESS": LogLevel.INFO}


def _begin(working: Working, *, queue: bool) -> None:
    """A new execution starts now: it queues for a concurrency slot (a replay does not), or runs."""
    flow, execution = working.flow, working.execution
    _flow_rules.schedule_slas(working)
    if queue and flow.concurrency is not None:
        # The backend, which alone sees every execution of the flow, answers Dequeued or Rejected.
        working.set_execution_state(StateType.QUEUED)
        working.commands.append(AcquireSlot(
            execution_id=execution.id, namespace=flow.namespace, flow_id=flow.id,
            limit=flow.concurrency.limit, behavior=flow.concurrency.behavior, created_at=execution.state.start_date))
    else:
        working.set_execution_state(StateType.RUNNING)
        working.dirty[ROOT] = None
        _wake_running_flowables(working)


def _replayed(event: ExecutionReplayed, flow: Flow) -> Execution:
    """A copy of ``source`` that keeps what ran before ``taskrun_id`` and runs the rest again."""
    source = event.source
    runs = list(source.task_run_list)
    cut = len(runs)
    if event.taskrun_id is not None:
        cut = next((i for i, tr in enumerate(runs) if tr.id == event.taskrun_id), len(runs))
    ancestors: set[str] = set()
    if cut < len(runs):
        parent_id = runs[cut].parent_task_run_id
        while parent_id is not None:
            ancestors.add(parent_id)
            parent = source.find_taskrun(parent_id)
            parent_id = parent.parent_task_run_id if parent else None
    renamed: dict[str, str] = {}
    kept: list[TaskRun] = []
    for tr in runs[:cut]:
        new_parent = renamed.get(tr.parent_task_run_id) if tr.parent_task_run_id else None
        new_id = derive_id(event.execution_id, new_parent, tr.task_id, tr.iteration)
        renamed[tr.id] = new_id
        state = tr.state.with_state(StateType.RUNNING, event.at) if tr.id in ancestors else tr.state
        kept.append(tr.model_copy(update={"id": new_id, "execution_id": event.execution_id,
                                          "parent_task_run_id": new_parent, "state": state}))
    return source.model_copy(update={
        "id": event.execution_id, "original_id": source.original_id or source.id, "outputs": None,
        "state": State.new(StateType.CREATED, event.at), "task_run_list": tuple(kept), "parent": None,
    })


def _wake_running_flowables(working: Working) -> None:
    """After a pause, a restart or a replay, every running flowable looks at its children again."""
    for tr in list(working.runs.values()):
        if tr.current == StateType.RUNNING and isinstance(working.index.task(tr.task_id), FlowableTask):
            working.dirty[tr.id] = None
        elif tr.current.is_created:
            working.start(tr)


def _on_dequeued(w: Working, event: Dequeued) -> None:
    if w.state.current == StateType.QUEUED:
        w.set_execution_state(StateType.RUNNING)
        w.dirty[ROOT] = None


def _on_rejected(w: Working, event: Rejected) -> None:
    if w.state.current == StateType.QUEUED:
        w.set_execution_state(event.state)
        w.end()


def _on_task_result(w: Working, event: TaskResult) -> None:
    tr = w.runs.get(event.taskrun_id)
    if tr is None or tr.current.is_terminated or len(tr.attempts) != event.attempt:
        return
    if tr.attempts[-1].state.current.is_terminated:
        return  # this attempt already ended (timed out, killed): a late or repeated result
    task = w.index.task(tr.task_id)
    if task.timeout is not None:
        w.cancel_timer("timeout", tr, event.attempt)
    if event.labels:
        w.labels.update(event.labels)
        w.changed = True
    if event.directory_outputs and (owner := w.directory_owner(tr)) is not None:
        owner_tr = w.runs[owner[0].id]
        w.update(owner_tr, outputs={**(owner_tr.outputs or {}), **event.directory_outputs})
    if event.message:  # why a worker ended the attempt itself (a result too large, a job it cannot read)
        w.log(LogLevel.ERROR, event.message, tr)
    attempt_state = event.state if event.state in (StateType.SUCCESS, StateType.WARNING, StateType.KILLED) \
        else StateType.FAILED
    tr = w.update(tr, attempts=w.set_attempt_state(tr, attempt_state, log_file=event.log_file,
                                                   worker_id=event.worker_id))
    if attempt_state == StateType.KILLED:
        w.set_state(tr, StateType.KILLED)
    elif attempt_state == StateType.FAILED:
        w.fail_attempt(tr, task)
    else:
        w.succeed_attempt(tr, task, attempt_state, event.outputs)


def _on_timer(w: Working, event: TimerFired) -> None:
    if event.purpose == "sla":
        _flow_rules.on_sla_timer(w, event)
        return
    if event.purpose == "execution_start":
        if w.state.current == StateType.CREATED:
            _begin(w, queue=True)
        return
    tr = w.runs.get(event.taskrun_id)
    if tr is None or tr.current.is_terminated:
        return
    task = w.index.task(tr.task_id)
    if event.purpose == "flowable":  # a flowable asked to be resolved again now (a loop's interval)
        if tr.current == StateType.RUNNING:
            w.dirty[tr.id] = None
        return
    if event.purpose == "retry":
        if tr.current == StateType.RETRYING and len(tr.attempts) == event.attempt - 1 and w.can_progress(task):
            if isinstance(task, SubflowTask):
                w.start_subflow(tr, task)
            elif isinstance(task, SubflowBatchesTask):
                _batches.start_batches(w, tr, task)
            else:
                w.dispatch(tr, task)
        return
    if isinstance(task, PauseTask):
        _on_pause_timer(w, tr, task, event)
        return
    if len(tr.attempts) != event.attempt or tr.attempts[-1].state.current.is_terminated:
        return
    if event.purpose == "sleep":
        tr = w.update(tr, attempts=w.set_attempt_state(tr, StateType.SUCCESS))
        if task.timeout is not None:
            w.cancel_timer("timeout", tr, event.attempt)
        w.succeed_attempt(tr, task, StateType.SUCCESS, None)
    elif event.purpose == "timeout":
        assert task.timeout is not None
        from kestra_stream.durations import format_duration

        w.log(LogLevel.ERROR, f"Task '{task.id}' timed out after {format_duration(task.timeout)}", tr)
        if isinstance(task, RunnableTask):
            from kestra_stream.executor.commands import KillTask

            w.commands.append(KillTask(execution_id=w.execution.id, taskrun_id=tr.id, attempt=event.attempt))
        tr = w.update(tr, attempts=w.set_attempt_state(tr, StateType.FAILED))
        w.fail_attempt(tr, task)


def _on_pause_timer(w: Working, tr: TaskRun, task: PauseTask, event: TimerFired) -> None:
    if tr.current != StateType.PAUSED:
        return
    if event.purpose == "pause_delay":
        state = StateType.SUCCESS
    elif event.purpose == "pause_duration":
        state = {"RESUME": StateType.SUCCESS, "WARN": StateType.WARNING, "FAIL": StateType.FAILED,
                 "CANCEL": StateType.CANCELLED}[task.behavior]
    else:
        w.log(LogLevel.ERROR, f"Pause '{task.id}' was not resumed in time", tr)
        state = StateType.FAILED
    w.end_pause(tr, task, state)
    _resume_if_unpaused(w)


def _resume_if_unpaused(w: Working) -> None:
    if w.state.current == StateType.PAUSED and not any(r.current == StateType.PAUSED for r in w.runs.values()):
        w.set_execution_state(StateType.RUNNING)
        w.dirty[ROOT] = None
        _wake_running_flowables(w)


def _on_kill(w: Working, event: KillRequested) -> None:
    if w.state.current.is_terminated:
        return
    w.set_execution_state(StateType.KILLING)
    w.kill_all()
    w.set_execution_state(StateType.KILLED)
    w.end()


def _on_pause(w: Working, event: PauseRequested) -> None:
    if w.state.current == StateType.RUNNING:
        w.set_execution_state(StateType.PAUSED)


def _on_resume(w: Working, event: ResumeRequested) -> None:
    if w.state.current != StateType.PAUSED:
        return
    for tr in list(w.runs.values()):
        if tr.current == StateType.PAUSED:
            outputs = {"onResume": event.inputs} if event.inputs else tr.outputs
            task = w.index.task(tr.task_id)
            if isinstance(task, PauseTask):
                w.end_pause(tr, task, StateType.SUCCESS, outputs)
            else:
                w.set_state(tr, StateType.SUCCESS, outputs=outputs)
    w.set_execution_state(StateType.RUNNING)
    w.dirty[ROOT] = None
    _wake_running_flowables(w)


def _on_restart(w: Working, event: RestartRequested) -> None:
    """Run the failed task runs of an ended execution again (new attempts, same task runs)."""
    if w.state.current not in (StateType.FAILED, StateType.KILLED):
        return
    dropped: set[str] = set()
    for tr in w.runs.values():  # parents come before their children in creation order
        if tr.task_id in w.index.handler_ids or (tr.parent_task_run_id in dropped):
            dropped.add(tr.id)
    failed_leaves = [tr for tr in w.runs.values() if tr.id not in dropped
                     and tr.current in (StateType.FAILED, StateType.KILLED)
                     and _restarts_itself(w, tr)]
    reopen: set[str] = set()
    for leaf in failed_leaves:
        parent_id = leaf.parent_task_run_id
        while parent_id is not None and parent_id not in reopen:
            reopen.add(parent_id)
            parent_id = w.runs[parent_id].parent_task_run_id
    w.drop(dropped)
    for tr_id in reopen:
        w.set_state(w.runs[tr_id], StateType.RUNNING)
    w.set_execution_state(StateType.RESTARTED)
    w.outputs = None
    w.set_execution_state(StateType.RUNNING)
    for leaf in failed_leaves:
        task = w.index.task(leaf.task_id)
        child_id = (leaf.outputs or {}).get("executionId")
        if isinstance(task, SubflowTask) and task.restart_behavior == "RETRY_FAILED" and child_id:
            # The same child execution runs its failed tasks again and reports back as before.
            attempts = (*leaf.attempts, Attempt(state=State.new(StateType.RUNNING, w.at)))
            w.set_state(w.runs[leaf.id], StateType.RUNNING, attempts=attempts)
            w.commands.append(RestartExecution(execution_id=str(child_id)))
        else:
            w.set_state(w.runs[leaf.id], StateType.RESTARTED)  # started again (new attempt) just below
    w.dirty[ROOT] = None
    _wake_running_flowables(w)


def _on_taskrun_state(w: Working, event: TaskRunStateSet) -> None:
    """Kestra's "change status": a task run of an ended execution takes the state asked for, its flowable
    parents run again, and so does the execution, on from there (the next tasks, or its errors branch)."""
    tr = w.runs.get(event.taskrun_id)
    if (tr is None or event.state not in CHANGEABLE_STATES or tr.current == event.state
            or not w.state.current.is_terminated or not all(r.current.is_terminated for r in w.runs.values())):
        return  # refused before it was sent; or a redelivery once the execution moved on
    ancestors: list[str] = []
    parent_id = tr.parent_task_run_id
    while parent_id is not None:
        ancestors.append(parent_id)
        parent_id = w.runs[parent_id].parent_task_run_id
    # The errors / finally / afterExecution runs of the flow and of each reopened parent ran for the
    # outcome being changed: they are dropped, and run again if the new outcome calls for them.
    owners = {ROOT, *ancestors}
    kept = {tr.id, *ancestors}
    dropped: set[str] = set()
    for run in w.runs.values():  # parents come before their children in creation order
        if run.id not in kept and (run.parent_task_run_id in dropped or (
                (run.parent_task_run_id or ROOT) in owners and run.task_id in w.index.handler_ids)):
            dropped.add(run.id)
    w.drop(dropped)
    w.log(LogLevel.INFO, f"Task run '{tr.task_id}' set from {tr.current.value} to {event.state.value} by "
                         "request", tr)
    attempts = w.set_attempt_state(tr, event.state) if tr.attempts else tr.attempts
    w.set_state(tr, event.state, attempts=attempts)
    for ancestor_id in ancestors:
        w.set_state(w.runs[ancestor_id], StateType.RUNNING)
    w.set_execution_state(StateType.RESTARTED)
    w.outputs = None
    w.set_execution_state(StateType.RUNNING)
    w.dirty[ROOT] = None
    _wake_running_flowables(w)


def _restarts_itself(w: Working, tr: TaskRun) -> bool:
    """A failed task run restarted as a leaf: not a flowable (its failed children are), unless it is a
    Pause that failed before running any of its tasks (it pauses again)."""
    task = w.index.task(tr.task_id)
    if isinstance(task, PauseTask):
        return not w.children_of(tr.id)
    return not isinstance(task, FlowableTask)


def _on_subflow_started(w: Working, event: SubflowStarted) -> None:
    tr = w.runs.get(event.taskrun_id)
    if tr is None or tr.current.is_terminated:
        return
    task = w.index.task(tr.task_id)
    if isinstance(task, SubflowBatchesTask):  # the only task that asks its children to report their start
        _batches.batch_started(w, tr, event)


def _on_subflow_ended(w: Working, event: SubflowEnded) -> None:
    tr = w.runs.get(event.taskrun_id)
    if tr is None or tr.current.is_terminated or not tr.attempts:
        return
    task = w.index.task(tr.task_id)
    if isinstance(task, SubflowBatchesTask):
        _batches.batch_ended(w, tr, task, event)
        return
    if (tr.outputs or {}).get("executionId") != event.child_execution_id:
        return  # the child of an earlier attempt
    assert isinstance(task, SubflowTask)
    if event.message:
        w.log(LogLevel.ERROR, event.message, tr)
    child = event.state
    state: StateType
    if child in (StateType.SUCCESS, StateType.WARNING):
        state = child
    elif task.transmit_failed:
        state = StateType.FAILED
    else:
        state = StateType.SUCCESS
    outputs = {"executionId": event.child_execution_id, "state": child.value, "outputs": event.outputs or {}}
    w.end_child_attempt(tr, task, state, outputs)


def _on_labels_set(w: Working, event: LabelsSet) -> None:
    # Applied in any state, an ended execution included: labels describe it, they do not drive it.
    merged = {**w.labels, **event.labels}
    if merged != w.labels:
        w.labels = merged
        w.changed = True


_HANDLERS: dict[type, Any] = {
    Dequeued: _on_dequeued,
    Rejected: _on_rejected,
    TaskResult: _on_task_result,
    TimerFired: _on_timer,
    KillRequested: _on_kill,
    PauseRequested: _on_pause,
    ResumeRequested: _on_resume,
    RestartRequested: _on_restart,
    TaskRunStateSet: _on_taskrun_state,
    SubflowEnded: _on_subflow_ended,
    SubflowStarted: _on_subflow_started,
    LabelsSet: _on_labels_set,
}
