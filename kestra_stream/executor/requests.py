"""Checks of user requests against an execution, before they become events (pure).

A request that cannot apply is refused here with a reason, so the fold can trust its events
and an API can answer 409 / 422 instead of accepting something that will do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kestra_stream.errors import ExecutionStateError, InputError
from kestra_stream.executor._index import index_of
from kestra_stream.executor.events import CHANGEABLE_STATES
from kestra_stream.inputs import coerce_inputs
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from kestra_stream.models.task import PauseTask

if TYPE_CHECKING:
    from kestra_stream.models.flow import Flow


def resume_inputs(execution: Execution, flow: Flow, raw: Mapping[str, Any], *,
                  from_text: bool = False) -> dict[str, Any]:
    """The inputs of a resume, validated against the onResume inputs of the Pause tasks it ends."""
    if execution.state.current != StateType.PAUSED:
        raise ExecutionStateError(f"execution '{execution.id}' is {execution.state.current.value}, not PAUSED: "
                                  "only a paused execution can be resumed", execution_id=execution.id)
    index = index_of(flow)
    definitions = [
        definition
        for tr in execution.task_run_list if tr.current == StateType.PAUSED
        for task in [index.task(tr.task_id)] if isinstance(task, PauseTask)
        for definition in task.on_resume or []
    ]
    unknown = sorted(set(raw) - {d.id for d in definitions})
    if unknown and not definitions:
        raise InputError(unknown[0], "the paused task declares no onResume inputs")
    return coerce_inputs(definitions, raw, from_text=from_text)


def check_restart(execution: Execution) -> None:
    if execution.state.current not in (StateType.FAILED, StateType.KILLED):
        raise ExecutionStateError(f"execution '{execution.id}' is {execution.state.current.value}: only a FAILED "
                                  "or KILLED execution can be restarted", execution_id=execution.id)


def check_replay(execution: Execution, taskrun_id: str | None) -> None:
    if not execution.state.current.is_terminated:
        raise ExecutionStateError(f"execution '{execution.id}' is still {execution.state.current.value}: "
                                  "replay an execution once it has ended", execution_id=execution.id)
    if taskrun_id is not None and execution.find_taskrun(taskrun_id) is None:
        raise ExecutionStateError(f"execution '{execution.id}' has no task run '{taskrun_id}'",
                                  execution_id=execution.id)


def check_taskrun_state(execution: Execution, taskrun_id: str, state: StateType) -> None:
    """A task run of an ended execution may be set to SUCCESS, FAILED or WARNING, from another ended state."""
    allowed = ", ".join(s.value for s in CHANGEABLE_STATES)
    if state not in CHANGEABLE_STATES:
        raise InputError("state", f"a task run cannot be set to {state.value}: choose one of {allowed} (to run a "
                                  "task again, restart or replay the execution)")
    if not execution.state.current.is_terminated or any(
            not tr.current.is_terminated for tr in execution.task_run_list):
        how = "resume it, or kill it first" if execution.state.current == StateType.PAUSED else \
            "wait for it, or kill it first"
        raise ExecutionStateError(f"execution '{execution.id}' is still {execution.state.current.value}: a task "
                                  f"run's state can be changed once the execution has ended ({how})",
                                  execution_id=execution.id)
    taskrun = execution.find_taskrun(taskrun_id)
    if taskrun is None:
        raise InputError("taskRunId", f"execution '{execution.id}' has no task run '{taskrun_id}': use the id of "
                                      f"one of its task runs (GET /api/v1/executions/{execution.id}, taskRunList)")
    if taskrun.current == state:
        raise ExecutionStateError(f"task run '{taskrun_id}' ({taskrun.task_id}) is already {state.value}: choose "
                                  f"another of {allowed}", execution_id=execution.id)
