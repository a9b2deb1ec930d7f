"""What the fold's commands become on Kafka: messages to topics and changes to the timers table.

Pure: no I/O, the clock comes in as ``at``. Every event produced here has an id derived from
what caused it, so folding a redelivered event twice produces the same ids and the second
copy changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from kestra_stream.errors import BackendError, InputError
from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    Command,
    EmitLog,
    ExecutionEnded,
    KillExecution,
    KillTask,
    RestartExecution,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.events import (
    Event,
    ExecutionCreated,
    KillRequested,
    RestartRequested,
    SubflowEnded,
)
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.ids import derive_id
from kestra_stream.inputs import Renderer, coerce_inputs
from kestra_stream.kafka._codec import encode_event, encode_job, encode_log
from kestra_stream.kafka.executor._slots import SlotRequest
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType

Destination = Literal["executor", "jobs", "killed", "logs", "concurrency"]


class FlowLookup(Protocol):
    """Flows by namespace, id and revision (None: the newest); raises BackendError when unknown."""

    def get(self, namespace: str, flow_id: str, revision: int | None) -> tuple[Flow, int]: ...


@dataclass(frozen=True)
class Outgoing:
    """One message to produce: a logical topic (see ``KafkaSettings.topic``), its key and its value."""

    topic: Destination
    key: str
    value: bytes


@dataclass
class Plan:
    """Everything one fold asks for, in the order the commands came."""

    messages: list[Outgoing] = field(default_factory=list)
    schedule: list[ScheduleTimer] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)


def plan_commands(cause: Event, state: ExecutionState | None, commands: Sequence[Command], flow: Flow,
                  flows: FlowLookup, at: datetime) -> Plan:
    """Translate ``commands`` (folded from ``cause`` with ``flow``) into messages and timer changes."""
    plan = Plan()
    for command in commands:
        if isinstance(command, RunTask):
            plan.messages.append(Outgoing("jobs", command.taskrun_id, encode_job(command)))
        elif isinstance(command, KillTask):
            plan.messages.append(Outgoing("killed", command.taskrun_id, command.model_dump_json().encode()))
        elif isinstance(command, ScheduleTimer):
            plan.schedule.append(command)
        elif isinstance(command, CancelTimer):
            plan.cancel.append(command.timer_id)
        elif isinstance(command, EmitLog):
            entry = log_entry(command, state)
            plan.messages.append(Outgoing("logs", command.execution_id, encode_log(entry)))
        elif isinstance(command, StartSubflow):
            plan.messages.append(_to_executor(child_creation(command, state, flows, at)))
        elif isinstance(command, KillExecution):
            plan.messages.append(_to_executor(KillRequested(
                event_id=derive_id("kill", cause.event_id, command.execution_id),
                execution_id=command.execution_id, at=at)))
        elif isinstance(command, RestartExecution):
            plan.messages.append(_to_executor(RestartRequested(
                event_id=derive_id("restart", cause.event_id, command.execution_id),
                execution_id=command.execution_id, at=at)))
        elif isinstance(command, AcquireSlot):
            request = SlotRequest.acquire(command)
            plan.messages.append(Outgoing("concurrency", request.key, request.model_dump_json().encode()))
        elif isinstance(command, ExecutionEnded):
            plan.messages.extend(_ended(command, flow, at))
    return plan


def child_creation(command: StartSubflow, parent_state: ExecutionState | None, flows: FlowLookup,
                   at: datetime) -> Event:
    """The child's ExecutionCreated, or a SubflowEnded FAILED telling the parent why it cannot start."""
    parent = command.parent
    try:
        child_flow, revision = flows.get(command.namespace, command.flow_id, command.revision)
        inputs = coerce_inputs(child_flow.inputs or [], command.inputs, render=_render_input_at(at))
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
                            trigger={"executionId": parent.execution_id, "namespace": parent.namespace,
                                     "flowId": parent.flow_id})


def log_entry(command: EmitLog, state: ExecutionState | None) -> LogEntry:
    ex = state.execution if state else None
    return LogEntry(execution_id=command.execution_id, namespace=ex.namespace if ex else "",
                    flow_id=ex.flow_id if ex else "", task_id=command.task_id, taskrun_id=command.taskrun_id,
                    level=command.level, message=command.message, timestamp=command.at)


def _ended(command: ExecutionEnded, flow: Flow, at: datetime) -> list[Outgoing]:
    execution = command.execution
    out: list[Outgoing] = []
    parent = command.parent
    if parent is not None and parent.wait:
        out.append(_to_executor(SubflowEnded(
            event_id=derive_id("subflow-ended", execution.id), execution_id=parent.execution_id, at=at,
            taskrun_id=parent.taskrun_id, child_execution_id=execution.id, state=command.state,
            outputs=execution.outputs)))
    if flow.concurrency is not None:
        release = SlotRequest.release(execution.id, execution.namespace, execution.flow_id)
        out.append(Outgoing("concurrency", release.key, release.model_dump_json().encode()))
    return out


def _to_executor(event: Event) -> Outgoing:
    return Outgoing("executor", event.execution_id, encode_event(event))


def _render_input_at(at: datetime) -> Renderer:
    def render(template: str, variables: Mapping[str, Any]) -> Any:
        # Imported late as the embedded engine does: expressions import plugins, which import the executor.
        from kestra_stream.expressions import FixedFunctions, default_engine

        return default_engine().render_typed(template, variables, FixedFunctions(at))

    return render
