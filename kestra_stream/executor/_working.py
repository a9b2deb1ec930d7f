"""One fold's working copy of an execution: task runs by id, the commands emitted, what to re-resolve.

Task runs are frozen models; every change builds a new one and marks its parent "dirty" so
that the parent's flowable (or the flow itself, for top-level runs) is resolved again before
the fold returns. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from kestra_stream.durations import parse_duration
from kestra_stream.errors import ExpressionError, InputError
from kestra_stream.executor import _batches, _flow_rules, _resolution
from kestra_stream.executor._index import FlowIndex, index_of
from kestra_stream.executor.commands import (
    CancelTimer,
    Command,
    EmitLog,
    ExecutionEnded,
    ExecutionStarted,
    KillExecution,
    KillTask,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.flowables import ChildRun, Done, Later, LoopLimits, Resolution, Start
from kestra_stream.executor.variables import execution_variables, label_variables, outputs_map, taskrun_variables
from kestra_stream.expressions import FixedFunctions, default_engine, is_truthy
from kestra_stream.ids import derive_id
from kestra_stream.inputs import coerce_output_value
from kestra_stream.models.execution import Attempt, Execution, ParentLink, TaskRun
from kestra_stream.models.state import State, StateType
from kestra_stream.models.task import (
    ConditionContext,
    FlowableTask,
    LogLevel,
    PauseTask,
    RunnableTask,
    SharedDirectory,
    SleepTask,
    SubflowBatchesTask,
    SubflowTask,
    Task,
    WorkingDirectoryTask,
)

if TYPE_CHECKING:
    from kestra_stream.models.flow import Flow

ROOT = ""  # the dirty-set key of the flow itself (top-level task runs have no parent)


def allowed_state(task: Task, state: StateType) -> StateType:
    """allowFailure turns FAILED into WARNING; allowWarning turns WARNING into SUCCESS."""
    if state == StateType.FAILED and task.allow_failure:
        state = StateType.WARNING
    if state == StateType.WARNING and task.allow_warning:
        state = StateType.SUCCESS
    return state


def labels_dict(labels: Any) -> dict[str, str]:
    if not labels:
        return {}
    if isinstance(labels, Mapping):
        return {str(k): str(v) for k, v in labels.items()}
    return {str(item["key"]): str(item["value"]) for item in labels}


class Working:
    def __init__(self, execution: Execution, flow: Flow, *, at: datetime, envs: Mapping[str, str],
                 globals_: Mapping[str, Any]) -> None:
        self.flow = flow
        self.index: FlowIndex = index_of(flow)
        self.at = at
        self.envs = envs
        self.globals = globals_
        self.execution = execution
        self.state: State = execution.state
        self.labels: dict[str, str] = dict(execution.labels)
        self.outputs: dict[str, Any] | None = execution.outputs
        self.runs: dict[str, TaskRun] = {tr.id: tr for tr in execution.task_run_list}
        self.children: dict[str, list[str]] = {}
        for tr in execution.task_run_list:
            self.children.setdefault(tr.parent_task_run_id or ROOT, []).append(tr.id)
        self.commands: list[Command] = []
        self.dirty: dict[str, None] = {}  # an ordered set, so the fold is deterministic
        self.changed = False
        self._base_vars: dict[str, Any] | None = None

    # ----- building the result -------------------------------------------------------------
    def result(self) -> Execution:
        if not self.changed:
            return self.execution
        return self.execution.model_copy(update={
            "state": self.state,
            "labels": self.labels,
            "outputs": self.outputs,
            "task_run_list": tuple(self.runs.values()),
        })

    def log(self, level: LogLevel, message: str, tr: TaskRun | None = None) -> None:
        self.commands.append(EmitLog(execution_id=self.execution.id, taskrun_id=tr.id if tr else None,
                                     task_id=tr.task_id if tr else None, level=level, message=message,
                                     at=self.at))

    # ----- changing things -----------------------------------------------------------------
    def set_execution_state(self, state: StateType) -> None:
        new = self.state.with_state(state, self.at)
        parent = self.execution.parent
        if (state == StateType.RUNNING and self.state.current in (StateType.CREATED, StateType.QUEUED)
                and parent is not None and parent.report_start):
            self.commands.append(ExecutionStarted(execution_id=self.execution.id, parent=parent))
        if new is not self.state:
            self.state = new
            self.changed = True
            self._base_vars = None

    def update(self, tr: TaskRun, **changes: Any) -> TaskRun:
        new = tr.model_copy(update=changes)
        self.runs[tr.id] = new
        self.changed = True
        if "outputs" in changes:
            self._base_vars = None
        # A parent only decides something new when one of its children ends.
        if "state" in changes and changes["state"].current != tr.current and changes["state"].current.is_terminated:
            self.dirty[tr.parent_task_run_id or ROOT] = None
        return new

    def set_state(self, tr: TaskRun, state: StateType, **changes: Any) -> TaskRun:
        return self.update(tr, state=tr.state.with_state(state, self.at), **changes)

    def set_attempt_state(self, tr: TaskRun, state: StateType, *, log_file: str | None = None,
                          worker_id: str | None = None) -> tuple[Attempt, ...]:
        last = tr.attempts[-1]
        changes: dict[str, Any] = {"state": last.state.with_state(state, self.at)}
        if log_file is not None:
            changes["log_file"] = log_file
        if worker_id is not None:
            changes["worker_id"] = worker_id
        return (*tr.attempts[:-1], last.model_copy(update=changes))

    def drop(self, tr_ids: set[str]) -> None:
        """Forget task runs (a restart's handler runs ...): they will be created again if they are needed."""
        if not tr_ids:
            return
        for tr_id in tr_ids:
            del self.runs[tr_id]
        self.children = {}
        for tr in self.runs.values():
            self.children.setdefault(tr.parent_task_run_id or ROOT, []).append(tr.id)
        self.changed = True

    def children_of(self, tr_id: str) -> list[TaskRun]:
        return [self.runs[i] for i in self.children.get(tr_id, ())]

    # ----- variables and rendering ---------------------------------------------------------
    def base_variables(self) -> dict[str, Any]:
        if self._base_vars is None:
            execution = self.result()
            self._base_vars = execution_variables(
                execution, self.flow, outputs=outputs_map(execution, self.runs), envs=self.envs,
                globals_=self.globals)
            self._base_vars["labels"] = label_variables(self.labels)
        return self._base_vars

    def variables(self, tr: TaskRun, task: Task, attempts_count: int | None = None) -> dict[str, Any]:
        count = len(tr.attempts) if attempts_count is None else attempts_count
        return taskrun_variables(self.base_variables(), task, tr, self.runs, count)

    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        return default_engine().render_typed(value, variables, FixedFunctions(self.at))

    # ----- creating and starting task runs -------------------------------------------------
    def can_progress(self, task: Task) -> bool:
        """Whether new work may start: a running execution, or afterExecution tasks of an ended one."""
        if self.state.current == StateType.RUNNING:
            return True
        return self.state.current.is_terminated and task.id in self.index.after_ids

    def create_child(self, parent: TaskRun | None, child: ChildRun) -> None:
        value = child.value if child.iteration is not None else (parent.value if parent else None)
        parent_id = parent.id if parent else None
        tr_id = derive_id(self.execution.id, parent_id, child.task.id, child.iteration)
        if tr_id in self.runs:
            return
        tr = TaskRun(id=tr_id, execution_id=self.execution.id, namespace=self.execution.namespace,
                     flow_id=self.execution.flow_id, task_id=child.task.id, parent_task_run_id=parent_id,
                     value=value, iteration=child.iteration, state=State.new(StateType.CREATED, self.at))
        self.runs[tr_id] = tr
        self.children.setdefault(parent_id or ROOT, []).append(tr_id)
        self.changed = True
        self.start(tr)

    def start(self, tr: TaskRun) -> None:
        """Move a CREATED (or RESTARTED) task run on: skip it, run it, or hand it to its kind."""
        task = self.index.task(tr.task_id)
        if not self.can_progress(task):
            return  # paused or queued: started on resume
        if task.run_if.strip().lower() != "true":
            try:
                run = is_truthy(self.render(task.run_if, self.variables(tr, task)))
            except ExpressionError as exc:
                self.log(LogLevel.ERROR, f"runIf of task '{task.id}' could not be rendered: {exc}", tr)
                self.set_state(tr, allowed_state(task, StateType.FAILED))
                return
            if not run:
                self.set_state(tr, StateType.SKIPPED)
                return
        if isinstance(task, PauseTask):  # before flowables: a Pause with tasks pauses first
            self.start_pause(tr, task)
        elif isinstance(task, FlowableTask):
            self.set_state(tr, StateType.RUNNING)
            self.dirty[tr.id] = None
        elif isinstance(task, SubflowTask):
            self.start_subflow(tr, task)
        elif isinstance(task, SubflowBatchesTask):
            _batches.start_batches(self, tr, task)
        else:
            self.dispatch(tr, task)

    def dispatch(self, tr: TaskRun, task: Task) -> None:
        """A new attempt of a runnable (worker) or Sleep (timer) task."""
        attempt = len(tr.attempts) + 1
        attempts = (*tr.attempts, Attempt(state=State.new(StateType.RUNNING, self.at)))
        tr = self.set_state(tr, StateType.RUNNING, attempts=attempts)
        if isinstance(task, SleepTask):
            self.timer("sleep", tr, attempt, self.at + task.duration)
        elif isinstance(task, RunnableTask):
            self.commands.append(RunTask(
                execution_id=self.execution.id, taskrun_id=tr.id, attempt=attempt, task=task,
                variables=self.variables(tr, task, attempt - 1), namespace=self.execution.namespace,
                flow_id=self.execution.flow_id, min_log_level=task.log_level,
                secret_inputs=self.index.secret_inputs, directory=self.shared_directory(tr),
                worker_group=task.worker_group or self.index.worker_group))
        else:
            self.log(LogLevel.ERROR, f"task '{task.id}' of type {task.type} cannot be run", tr)
            self.fail_attempt(tr, task)
            return
        if task.timeout is not None:
            self.timer("timeout", tr, attempt, self.at + task.timeout)

    def directory_owner(self, tr: TaskRun) -> tuple[TaskRun, WorkingDirectoryTask] | None:
        """The nearest WorkingDirectory around ``tr``: its children share one working directory."""
        parent_id = tr.parent_task_run_id
        while parent_id is not None:
            parent = self.runs[parent_id]
            task = self.index.task(parent.task_id)
            if isinstance(task, WorkingDirectoryTask):
                return parent, task
            parent_id = parent.parent_task_run_id
        return None

    def shared_directory(self, tr: TaskRun) -> SharedDirectory | None:
        owner = self.directory_owner(tr)
        if owner is None:
            return None
        owner_tr, task = owner
        return SharedDirectory(owner_task_id=task.id, owner_taskrun_id=owner_tr.id, input_files=task.input_files,
                               output_files=task.output_files, namespace_files=task.namespace_files,
                               cache=task.cache, owner_value=owner_tr.value)

    def timer(self, purpose: Any, tr: TaskRun, attempt: int, fire_at: datetime) -> None:
        self.commands.append(ScheduleTimer(
            execution_id=self.execution.id, timer_id=f"{purpose}:{tr.id}:{attempt}", fire_at=fire_at,
            purpose=purpose, taskrun_id=tr.id, attempt=attempt))

    def cancel_timer(self, purpose: str, tr: TaskRun, attempt: int) -> None:
        self.commands.append(CancelTimer(execution_id=self.execution.id, timer_id=f"{purpose}:{tr.id}:{attempt}"))

    def start_pause(self, tr: TaskRun, task: PauseTask) -> None:
        try:
            delay = self.duration(task.delay, tr, task)
            pause_duration = self.duration(task.pause_duration, tr, task)
        except (ExpressionError, ValueError) as exc:
            self.log(LogLevel.ERROR, f"Pause '{task.id}': {exc}", tr)
            self.set_state(tr, allowed_state(task, StateType.FAILED))
            return
        tr = self.set_state(tr, StateType.PAUSED)
        self.set_execution_state(StateType.PAUSED)
        if delay is not None:
            self.timer("pause_delay", tr, 0, self.at + delay)
        if pause_duration is not None:
            self.timer("pause_duration", tr, 0, self.at + pause_duration)
        if task.timeout is not None:
            self.timer("timeout", tr, 0, self.at + task.timeout)

    def duration(self, value: timedelta | str | None, tr: TaskRun, task: Task) -> timedelta | None:
        """A dynamic duration property: an expression is rendered with the task run's variables."""
        if value is None or isinstance(value, timedelta):
            return value
        return parse_duration(self.render(value, self.variables(tr, task)))

    def end_pause(self, tr: TaskRun, task: PauseTask, state: StateType, outputs: Any = None) -> None:
        """A pause ended in ``state``; a resumed Pause with tasks runs them now (it is their flowable)."""
        if state == StateType.SUCCESS and isinstance(task, FlowableTask) and task.child_tasks():
            self.set_state(tr, StateType.RUNNING, outputs=outputs)
            self.dirty[tr.id] = None
            return
        self.set_state(tr, allowed_state(task, state), outputs=outputs)

    def start_subflow(self, tr: TaskRun, task: SubflowTask) -> None:
        attempt = len(tr.attempts) + 1
        child_id = derive_id(self.execution.id, tr.id, attempt)
        try:
            variables = self.variables(tr, task)
            # As Kestra, the child flow may be named by expressions (a flowId from an input, say).
            namespace, flow_id = (str(self.render(task.namespace, variables)),
                                  str(self.render(task.flow_id, variables)))
            inputs = self.render(task.inputs or {}, variables)
            labels = self.child_labels(task.labels, task.inherit_labels, variables)
        except ExpressionError as exc:
            self.log(LogLevel.ERROR, f"Subflow '{task.id}': {exc}", tr)
            self.set_state(tr, allowed_state(task, StateType.FAILED))
            return
        attempts = (*tr.attempts, Attempt(state=State.new(StateType.RUNNING, self.at)))
        outputs = {"executionId": child_id}
        tr = self.set_state(tr, StateType.RUNNING, attempts=attempts, outputs=outputs)
        self.commands.append(StartSubflow(
            execution_id=self.execution.id, child_execution_id=child_id, namespace=namespace,
            flow_id=flow_id, revision=task.revision, inputs=inputs, labels=labels,
            parent=ParentLink(execution_id=self.execution.id, taskrun_id=tr.id,
                              namespace=self.execution.namespace, flow_id=self.execution.flow_id,
                              wait=task.wait, transmit_failed=task.transmit_failed, outputs=task.outputs)))
        if not task.wait:
            self.set_state(tr, StateType.SUCCESS, attempts=self.set_attempt_state(tr, StateType.SUCCESS))

    def child_labels(self, labels: Any, inherit: bool, variables: Mapping[str, Any]) -> dict[str, str]:
        """The labels of a child execution: its task's, rendered, over this execution's when inherited."""
        rendered = labels_dict(self.render(labels, variables))
        if inherit:
            rendered = {**self.labels, **rendered}
        if _flow_rules.CORRELATION_ID in self.labels:  # a child belongs to its root execution's correlation
            rendered[_flow_rules.CORRELATION_ID] = self.labels[_flow_rules.CORRELATION_ID]
        return rendered

    # ----- ending attempts -----------------------------------------------------------------
    def fail_attempt(self, tr: TaskRun, task: Task) -> None:
        """The current attempt failed: retry it later if the policy allows, else fail the run."""
        if not _flow_rules.retry_failed(self, tr, task):
            self.set_state(tr, allowed_state(task, StateType.FAILED))

    def end_child_attempt(self, tr: TaskRun, task: Task, state: StateType, outputs: dict[str, Any]) -> None:
        """The attempt waiting for child executions ended in ``state``: a failure is retried if the policy
        allows (its children start again), anything else ends the run."""
        tr = self.update(tr, attempts=self.set_attempt_state(tr, state), outputs=outputs)
        if state == StateType.FAILED:
            self.fail_attempt(tr, task)
        else:
            self.set_state(tr, allowed_state(task, state))

    def succeed_attempt(self, tr: TaskRun, task: Task, state: StateType,
                        outputs: dict[str, Any] | None) -> None:
        if state == StateType.SUCCESS and _flow_rules.warns_on_retry(self, tr, task):
            state = StateType.WARNING
        self.set_state(tr, allowed_state(task, state), outputs=outputs)

    # ----- resolution ----------------------------------------------------------------------
    def apply(self, parent: TaskRun | None, resolution: Resolution) -> Done | None:
        if isinstance(resolution, Start):
            for child in resolution.children:
                self.create_child(parent, child)
            return None
        if isinstance(resolution, Later) and parent is not None:
            self.timer("flowable", parent, resolution.key, resolution.at)
            return None
        return resolution if isinstance(resolution, Done) else None

    def resolve_flowable(self, tr: TaskRun, task: FlowableTask) -> None:
        try:
            done = self.apply(tr, task.resolve(FlowableRun(self, tr, task)))
        except (ExpressionError, ValueError) as exc:
            self.log(LogLevel.ERROR, f"task '{task.id}' could not be resolved: {exc}", tr)
            self.set_state(tr, allowed_state(task, StateType.FAILED))
            return
        except Exception as exc:
            # A plugin's bug fails its own task run (then errors / finally, as any failure), never the fold.
            trace = "".join(traceback.format_exception(exc)).rstrip()
            self.log(LogLevel.ERROR, f"task '{task.id}' ({task.type}) failed to resolve: "
                                     f"{type(exc).__name__}: {exc}\n{trace}", tr)
            self.set_state(self.runs[tr.id], allowed_state(task, StateType.FAILED))
            return
        if done is not None:
            tr = self.runs[tr.id]  # resolve() may have kept a decision in the outputs
            outputs = {**(tr.outputs or {}), **done.outputs} if done.outputs is not None else tr.outputs
            self.set_state(tr, allowed_state(task, done.state), outputs=outputs)

    def resolve_root(self) -> None:
        root_runs = self.children_of(ROOT)
        if self.state.current.is_terminated:
            after = self.flow.after_execution or []
            if after and self.apply(None, _resolution.sequence(after, root_runs, [], [])) is None:
                return
            listened = self.listener_tasks()
            if listened and self.apply(None, _resolution.in_turn(listened, root_runs)) is None:
                return
            if after or listened:
                self.end()
            return
        if self.state.current != StateType.RUNNING:
            return
        done = self.apply(None, _resolution.sequence(
            self.flow.tasks, root_runs, self.flow.errors or [], self.flow.finally_ or []))
        if done is not None:
            self.finalize(done.state)

    def finalize(self, state: StateType) -> None:
        """The flow's tasks ended: render its outputs, set its final state, then run afterExecution."""
        parent = self.execution.parent
        extracted = parent.outputs if parent is not None and not self.flow.outputs else None
        if state in (StateType.SUCCESS, StateType.WARNING) and (self.flow.outputs or extracted):
            try:
                variables = self.base_variables()
                if self.flow.outputs:
                    self.outputs = {o.id: coerce_output_value(o.type, self.render(o.value, variables), output_id=o.id)
                                    for o in self.flow.outputs}
                else:  # the Subflow task's deprecated outputs, rendered here in the child
                    self.outputs = dict(self.render(extracted, variables))
                self.changed = True
            except (ExpressionError, InputError) as exc:
                self.log(LogLevel.ERROR, f"flow outputs could not be rendered: {exc}")
                state = StateType.FAILED
        if self.flow.sla:
            state = _flow_rules.assert_at_end(self, state)
        self.set_execution_state(state)
        if any(not t.disabled for t in self.flow.after_execution or []) or self.listener_tasks():
            self.dirty[ROOT] = None  # resolved again, now in its after-execution phase
        else:
            self.end()

    def listener_tasks(self) -> list[Task]:
        """The tasks of the flow's listeners whose conditions hold for the ended execution (Kestra tests them
        again at each step of that phase, against the same final state)."""
        if not self.flow.listeners:
            return []
        context = ConditionContext(flow=self.flow, variables=self.base_variables(), date=self.at,
                                   execution=self.result())
        tasks: list[Task] = []
        for number, listener in enumerate(self.flow.listeners):
            try:
                holds = all(condition.test(context) for condition in listener.conditions or ())
            except Exception as exc:  # a condition that cannot judge an execution: said, and its tasks not run
                self.log(LogLevel.ERROR, f"listeners[{number}]: a condition could not be tested: {exc}")
                holds = False
            if holds:
                tasks += [task for task in listener.tasks if not task.disabled]
        return tasks

    def end(self) -> None:
        execution = self.result()
        self.commands.append(ExecutionEnded(execution_id=execution.id, execution=execution,
                                            state=self.state.current, parent=execution.parent))

    def advance(self) -> None:
        while self.dirty:
            key = next(iter(self.dirty))
            del self.dirty[key]
            if key == ROOT:
                self.resolve_root()
                continue
            tr = self.runs[key]
            task = self.index.task(tr.task_id)
            if tr.current == StateType.RUNNING and isinstance(task, FlowableTask) and self.can_progress(task):
                self.resolve_flowable(tr, task)

    # ----- kill ----------------------------------------------------------------------------
    def kill_all(self) -> None:
        self.stop_all(StateType.KILLED)

    def stop_all(self, state: StateType) -> None:
        """End every task run still going in ``state``, stopping its worker job or child execution."""
        for tr in list(self.runs.values()):
            if tr.current.is_terminated:
                continue
            task = self.index.task(tr.task_id)
            attempts = tr.attempts
            if attempts and not attempts[-1].state.current.is_terminated:
                attempts = self.set_attempt_state(tr, StateType.KILLED)
                if isinstance(task, RunnableTask):
                    self.commands.append(KillTask(execution_id=self.execution.id, taskrun_id=tr.id,
                                                  attempt=len(attempts)))
                elif isinstance(task, SubflowTask) and task.wait and tr.outputs:
                    self.commands.append(KillExecution(execution_id=str(tr.outputs["executionId"])))
                elif isinstance(task, SubflowBatchesTask):
                    _batches.kill_batches(self, tr)
            self.set_state(tr, state, attempts=attempts)
        self.dirty.clear()


class FlowableRun:
    """The FlowableContext a flowable plugin resolves against."""

    def __init__(self, working: Working, taskrun: TaskRun, task: FlowableTask) -> None:
        self._w = working
        self._tr = taskrun
        self._task = task

    def _runs(self) -> list[TaskRun]:
        return self._w.children_of(self._tr.id)

    def render(self, value: Any) -> Any:
        return self._w.render(value, self._w.variables(self._tr, self._task))

    def render_once(self, key: str, value: Any) -> Any:
        outputs = self._tr.outputs or {}
        if key in outputs:
            return outputs[key]
        rendered = to_jsonable_python(self.render(value), fallback=str)
        self._tr = self._w.update(self._tr, outputs={**outputs, key: rendered})
        return rendered

    def sequence(self, tasks: Sequence[Task]) -> Resolution:
        return _resolution.sequence(tasks, self._runs(), self._task.errors or [], self._task.finally_ or [])

    def parallel(self, tasks: Sequence[Task], concurrent: int = 0) -> Resolution:
        return _resolution.parallel(tasks, self._runs(), self._task.errors or [], self._task.finally_ or [],
                                    concurrent)

    def each(self, values: Any, tasks: Sequence[Task], *, concurrency: int = 1,
             parallel_tasks: bool = False) -> Resolution:
        return _resolution.each(_resolution.iteration_values(values), tasks, self._runs(),
                                self._task.errors or [], self._task.finally_ or [], concurrency, parallel_tasks)

    def dag(self, nodes: Sequence[tuple[Task, Sequence[str]]], concurrent: int = 0) -> Resolution:
        return _resolution.dag(nodes, self._runs(), self._task.errors or [], self._task.finally_ or [],
                               concurrent)

    def until(self, tasks: Sequence[Task], condition: Any, limits: LoopLimits) -> Resolution:
        def holds(count: int) -> bool:
            self._keep("iterationCount", count)
            return is_truthy(self.render(condition))

        count, resolution = _resolution.loop(
            tasks, self._runs(), self._task.errors or [], self._task.finally_ or [], condition=holds,
            limits=limits, started=self._tr.state.histories[0].date, now=self._w.at)
        self._keep("iterationCount", count)
        return resolution

    def _keep(self, key: str, value: Any) -> None:
        outputs = self._tr.outputs or {}
        if outputs.get(key) != value:
            self._tr = self._w.update(self._tr, outputs={**outputs, key: value})
