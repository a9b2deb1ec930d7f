"""Flow-wide rules the fold applies: flow and flowable retries, SLAs, checks' outcome, the correlation id.

Kestra's semantics (its ExecutorService and SLA types):
- a failed runnable or Subflow task run is retried by the first policy found among its own
  ``retry``, the ``retry`` of its nearest flowable ancestor that has one, and the flow's ``retry``;
- ``RETRY_FAILED_TASK`` gives the failed task run a new attempt in the same execution;
  ``CREATE_NEW_EXECUTION`` ends the execution RETRIED (the failed task run and its parents too)
  and starts the next execution of the chain, whose ``metadata.attemptNumber`` is one more;
- an SLA MAX_DURATION fires a timer from the execution's start; EXECUTION_ASSERTION is rendered
  when the execution ends; a violation FAILs or CANCELs the execution (NONE leaves it) and adds
  the SLA's labels.
Pure: time comes from the working copy (the event being folded).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from kestra_stream.errors import ExpressionError
from kestra_stream.executor.commands import CreateExecution, ScheduleTimer
from kestra_stream.executor.events import ExecutionCreated, TimerFired
from kestra_stream.executor.retry import AnyRetry, next_attempt_at, next_execution_at
from kestra_stream.expressions import is_truthy
from kestra_stream.ids import derive_id
from kestra_stream.models.execution import ExecutionMetadata, TaskRun
from kestra_stream.models.flow import SLA, SLABehavior, SLAType
from kestra_stream.models.retry import RetryBehavior
from kestra_stream.models.state import StateType
from kestra_stream.models.task import FlowableTask, LogLevel, Task

if TYPE_CHECKING:
    from kestra_stream.executor._working import Working

CORRELATION_ID = "system.correlationId"


def retry_execution_id(execution_id: str) -> str:
    """The id of the execution that retries ``execution_id`` (CREATE_NEW_EXECUTION): known in advance."""
    return derive_id("retry-execution", execution_id)


def effective_retry(w: Working, tr: TaskRun, task: Task) -> AnyRetry | None:
    """The task's own policy, else its nearest flowable ancestor's, else the flow's."""
    if isinstance(task, FlowableTask):
        return None  # a flowable's policy retries its failed children, never the flowable itself
    if task.retry is not None:
        return task.retry
    parent_id = tr.parent_task_run_id
    while parent_id is not None:
        parent = w.runs[parent_id]
        policy = w.index.task(parent.task_id).retry
        if policy is not None:
            return policy
        parent_id = parent.parent_task_run_id
    return w.flow.retry


def retry_failed(w: Working, tr: TaskRun, task: Task) -> bool:
    """Retry the failed attempt of ``tr`` if a policy says so; False when it simply fails."""
    policy = effective_retry(w, tr, task)
    if policy is None or not tr.attempts:
        return False
    execution = w.execution
    if policy.behavior == RetryBehavior.CREATE_NEW_EXECUTION:
        first_created = execution.metadata.original_created_date or execution.state.start_date
        fire_at = next_execution_at(policy, execution.metadata.attempt_number, w.at, first_created, seed=execution.id)
        if fire_at is None:
            return False
        _retry_in_new_execution(w, tr, fire_at)
        return True
    fire_at = next_attempt_at(policy, tr.attempts, w.at, seed=tr.id)
    if fire_at is None:
        return False
    tr = w.set_state(tr, StateType.RETRYING)
    w.timer("retry", tr, len(tr.attempts) + 1, fire_at)
    return True


def warns_on_retry(w: Working, tr: TaskRun, task: Task) -> bool:
    policy = effective_retry(w, tr, task)
    return policy is not None and policy.warning_on_retry and len(tr.attempts) > 1


def _retry_in_new_execution(w: Working, tr: TaskRun, fire_at: datetime) -> None:
    execution = w.execution
    w.log(LogLevel.WARN, f"Task '{tr.task_id}' failed: execution {execution.id} ends RETRIED and "
                         f"execution {retry_execution_id(execution.id)} runs the flow again at {fire_at.isoformat()}",
          tr)
    chain: TaskRun | None = tr
    while chain is not None:
        w.set_state(w.runs[chain.id], StateType.RETRIED)
        chain = w.runs.get(chain.parent_task_run_id) if chain.parent_task_run_id else None
    w.stop_all(StateType.KILLED)
    w.set_execution_state(StateType.RETRIED)
    metadata = ExecutionMetadata(
        attempt_number=execution.metadata.attempt_number + 1,
        original_created_date=execution.metadata.original_created_date or execution.state.start_date)
    new_id = retry_execution_id(execution.id)
    w.commands.append(CreateExecution(execution_id=execution.id, created=ExecutionCreated(
        event_id=derive_id("created", new_id), execution_id=new_id, at=w.at, namespace=execution.namespace,
        flow_id=execution.flow_id, flow_revision=execution.flow_revision, inputs=execution.inputs or {},
        labels=dict(w.labels), trigger=execution.trigger, parent=execution.parent, envs=dict(w.envs),
        globals=dict(w.globals), schedule_date=execution.schedule_date, metadata=metadata,
        original_id=execution.original_id or execution.id, start_at=fire_at)))
    w.end()


# ----- SLAs ---------------------------------------------------------------------------------
def schedule_slas(w: Working) -> None:
    """The MAX_DURATION timers of an execution that starts now."""
    for sla in w.flow.sla or ():
        if sla.type == SLAType.MAX_DURATION and sla.duration is not None:
            w.commands.append(_sla_timer(w, sla))


def _sla_timer(w: Working, sla: SLA) -> ScheduleTimer:
    assert sla.duration is not None
    return ScheduleTimer(execution_id=w.execution.id, timer_id=f"sla:{w.execution.id}:{sla.id}",
                         fire_at=w.at + sla.duration, purpose="sla", taskrun_id=sla.id, attempt=0)


def on_sla_timer(w: Working, event: TimerFired) -> None:
    if w.state.current.is_terminated:
        return
    sla = next((s for s in w.flow.sla or () if s.id == event.taskrun_id and s.type == SLAType.MAX_DURATION), None)
    if sla is None or sla.duration is None:
        return
    elapsed = w.at - w.state.start_date
    state = violate(w, sla, f"execution duration of {elapsed} exceeds the maximum duration of {sla.duration}")
    if state is not None:
        w.stop_all(state)
        w.set_execution_state(state)
        w.end()


def assert_at_end(w: Working, state: StateType) -> StateType:
    """The final state once the EXECUTION_ASSERTION SLAs are checked: the first violation that imposes one wins."""
    imposed = [s for sla, reason in assertion_violations(w) if (s := violate(w, sla, reason)) is not None]
    return imposed[0] if imposed else state


def assertion_violations(w: Working) -> list[tuple[SLA, str]]:
    """The EXECUTION_ASSERTION SLAs whose assertion is false (or cannot be rendered) as the execution ends."""
    violated = []
    for sla in w.flow.sla or ():
        if sla.type != SLAType.EXECUTION_ASSERTION or sla.assert_ is None:
            continue
        try:
            holds = is_truthy(w.render(sla.assert_, w.base_variables()))
        except ExpressionError as exc:
            violated.append((sla, f"assertion could not be rendered: {exc}"))
            continue
        if not holds:
            violated.append((sla, f"assertion is false: {sla.assert_}"))
    return violated


def violate(w: Working, sla: SLA, reason: str) -> StateType | None:
    """Record a violation (its labels, a log line); the state it imposes (FAIL, CANCEL), None for NONE."""
    from kestra_stream.executor._working import labels_dict

    labels = labels_dict(sla.labels)
    if labels and any(w.labels.get(k) != v for k, v in labels.items()):
        w.labels.update(labels)
        w.changed = True
    level = LogLevel.ERROR if sla.behavior == SLABehavior.FAIL else LogLevel.WARN
    w.log(level, f"SLA '{sla.id}' violated: {reason}")
    if sla.behavior == SLABehavior.NONE:
        return None
    return StateType.FAILED if sla.behavior == SLABehavior.FAIL else StateType.CANCELLED
