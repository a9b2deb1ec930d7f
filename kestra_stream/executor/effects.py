"""What a backend does with the commands that are not plain messages: pure, shared by both backends.

Every event built here has an id derived from what caused it, so carrying out a command twice
(after a crash, a redelivery) produces the same event, which the fold then ignores.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from kestra_stream.errors import BackendError, InputError
from kestra_stream.executor.commands import EmitLog, ExecutionEnded, ExecutionStarted, StartSubflow
from kestra_stream.executor.events import Event, ExecutionCreated, SubflowEnded, SubflowStarted
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.ids import derive_id
from kestra_stream.inputs import Renderer, coerce_inputs
from kestra_stream.models.execution import TriggeredBy, execution_trigger
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType


class FlowLookup(Protocol):
    """Flows by namespace, id and revision (None: the newest); raises BackendError when unknown."""

    def get(self, namespace: str, flow_id: str, revision: int | None) -> tuple[Flow, int]: ...


def child_creation(command: StartSubflow, parent_state: ExecutionState | None, flows: FlowLookup,
                   at: datetime) -> Event:
    """The child's ExecutionCreated, or a SubflowEnded FAILED telling the parent why it cannot start."""
    parent = command.parent
    try:
        child_flow, revision = flows.get(command.namespace, command.flow_id, command.revision)
        inputs = coerce_inputs(child_flow.inputs or [], command.inputs, render=input_renderer(at))
    except (InputError, BackendError) as exc:
        return SubflowEnded(event_id=derive_id("subflow-failed", command.child_execution_id),
                            execution_id=parent.execution_id, at=at, taskrun_id=parent.taskrun_id,
                            child_execution_id=command.child_execution_id, state=StateType.FAILED,
                            message=f"Subflow {command.namespace}.{command.flow_id} could not start: {exc}")
    # The child runs in the environment its parent was created with.
    envs = dict(parent_state.envs) if parent_state else {}
    globals_ = dict(parent_state.globals) if parent_state else {}
    return ExecutionCreated(event_id=derive_id("created", command.child_execution_id),
                            execution_id=command.child_execution_id, at=at, namespace=command.namespace,
                            flow_id=command.flow_id, flow_revision=revision, inputs=inputs,
                            labels=command.labels, parent=parent, envs=envs, globals=globals_,
                            trigger=execution_trigger(
                                "subflow", "io.kestra.plugin.core.flow.Subflow",
                                {"executionId": parent.execution_id, "namespace": parent.namespace,
                                 "flowId": parent.flow_id}, TriggeredBy.SUBFLOW))


def log_entry(command: EmitLog, state: ExecutionState | None) -> LogEntry:
    ex = state.execution if state else None
    return LogEntry(execution_id=command.execution_id, namespace=ex.namespace if ex else "",
                    flow_id=ex.flow_id if ex else "", task_id=command.task_id, taskrun_id=command.taskrun_id,
                    level=command.level, message=command.message, timestamp=command.at)


def start_notification(command: ExecutionStarted, at: datetime) -> SubflowStarted:
    """The parent that asked to hear of this execution's start (a ForEachItem counting its batches) is told."""
    return SubflowStarted(event_id=derive_id("subflow-started", command.execution_id),
                          execution_id=command.parent.execution_id, at=at, taskrun_id=command.parent.taskrun_id,
                          child_execution_id=command.execution_id)


def parent_notification(command: ExecutionEnded, at: datetime) -> list[Event]:
    """A SubflowEnded for the parent that waits for this execution, if any."""
    execution, parent = command.execution, command.parent
    if parent is None or not parent.wait:
        return []
    return [SubflowEnded(event_id=derive_id("subflow-ended", execution.id), execution_id=parent.execution_id, at=at,
                         taskrun_id=parent.taskrun_id, child_execution_id=execution.id, state=command.state,
                         outputs=execution.outputs)]


def input_renderer(at: datetime) -> Renderer:
    def render(template: str, variables: Mapping[str, Any]) -> Any:
        # Imported late as the embedded engine does: expressions import plugins, which import the executor.
        from kestra_stream.expressions import FixedFunctions, default_engine

        return default_engine().render_typed(template, variables, FixedFunctions(at))

    return render
