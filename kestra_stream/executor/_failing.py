"""Ending an execution FAILED when the fold cannot (its flow revision is missing, the fold itself broke).

Pure, like the fold: the time comes in, nothing is read. It needs no flow, so it serves when the
flow is what is missing. Every unfinished task run ends FAILED, running attempts are killed on
their workers, the reason goes to the execution's logs, and a parent waiting for it is told.
"""

from __future__ import annotations

from datetime import datetime

from kestra_stream.executor._flow_rules import CORRELATION_ID
from kestra_stream.executor.commands import Command, EmitLog, ExecutionEnded, KillTask
from kestra_stream.executor.events import Event, ExecutionCreated, ExecutionReplayed
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution, ExecutionMetadata
from kestra_stream.models.state import State, StateType
from kestra_stream.models.task import LogLevel


def fail_execution(state: ExecutionState | None, event: Event, message: str, at: datetime, *,
                   keep_outputs: bool = True) -> tuple[ExecutionState | None, list[Command]]:
    """``state`` (or the execution ``event`` creates) ended FAILED, with ``message`` logged at ERROR.

    Without ``keep_outputs`` the outputs of the execution and its task runs are dropped (they are
    what made it too large to store). An event for an execution that does not exist and does not
    create one changes nothing.
    """
    if state is None:
        created = _unstarted(event)
        if created is None:
            return None, []
        state = created
    execution = state.execution
    commands: list[Command] = [EmitLog(execution_id=execution.id, level=LogLevel.ERROR, message=message, at=at)]
    runs = []
    for tr in execution.task_run_list:
        if not keep_outputs:
            tr = tr.model_copy(update={"outputs": None})
        if tr.current.is_terminated:
            runs.append(tr)
            continue
        attempts = tr.attempts
        if attempts and not attempts[-1].state.current.is_terminated:
            last = attempts[-1]
            attempts = (*attempts[:-1], last.model_copy(update={"state": last.state.with_state(StateType.FAILED, at)}))
            # A worker ignores a kill for an attempt it does not run (a Sleep, a Pause: no worker job).
            commands.append(KillTask(execution_id=execution.id, taskrun_id=tr.id, attempt=len(attempts)))
        runs.append(tr.model_copy(update={"state": tr.state.with_state(StateType.FAILED, at), "attempts": attempts}))
    already_ended = state.finished
    current = execution.state if execution.state.current.is_terminated else \
        execution.state.with_state(StateType.FAILED, at)
    failed = execution.model_copy(update={"state": current, "task_run_list": tuple(runs),
                                          "outputs": execution.outputs if keep_outputs else None})
    if not already_ended:
        commands.append(ExecutionEnded(execution_id=failed.id, execution=failed, state=current.current,
                                       parent=failed.parent))
    return state.model_copy(update={"execution": failed}), commands


def _unstarted(event: Event) -> ExecutionState | None:
    """The execution a creation event would have made, before any task run started."""
    if isinstance(event, ExecutionCreated):
        # As the fold creates it (its flow's labels aside: the flow may be what is missing).
        execution = Execution(id=event.execution_id, namespace=event.namespace, flow_id=event.flow_id,
                              flow_revision=event.flow_revision, inputs=event.inputs,
                              labels={CORRELATION_ID: event.execution_id, **event.labels},
                              state=State.new(StateType.CREATED, event.at), trigger=event.trigger,
                              parent=event.parent, schedule_date=event.schedule_date, original_id=event.original_id,
                              metadata=event.metadata or ExecutionMetadata(original_created_date=event.at))
        return ExecutionState(execution=execution, envs=event.envs, globals=event.globals)
    if isinstance(event, ExecutionReplayed):
        source = event.source
        execution = source.model_copy(update={
            "id": event.execution_id, "original_id": source.original_id or source.id, "outputs": None,
            "state": State.new(StateType.CREATED, event.at), "task_run_list": (), "parent": None})
        return ExecutionState(execution=execution, envs=event.envs, globals=event.globals)
    return None
