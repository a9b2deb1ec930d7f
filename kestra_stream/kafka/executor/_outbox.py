"""What the fold's commands become on Kafka: messages to topics and changes to the timers table.

Pure: no I/O, the clock comes in as ``at``. Every event produced here has an id derived from
what caused it, so folding a redelivered event twice produces the same ids and the second
copy changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    Command,
    CreateExecution,
    EmitLog,
    ExecutionEnded,
    KillExecution,
    KillTask,
    RestartExecution,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.effects import FlowLookup, child_creation, log_entry, parent_notification
from kestra_stream.executor.events import (
    Event,
    KillRequested,
    RestartRequested,
)
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.slots import SlotRequest
from kestra_stream.ids import derive_id
from kestra_stream.kafka._codec import encode_event, encode_job, encode_log
from kestra_stream.models.flow import Flow

Destination = Literal["executor", "jobs", "killed", "logs", "concurrency"]


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
        elif isinstance(command, CreateExecution):
            plan.messages.append(_to_executor(command.created))
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


def _ended(command: ExecutionEnded, flow: Flow, at: datetime) -> list[Outgoing]:
    execution = command.execution
    out = [_to_executor(event) for event in parent_notification(command, at)]
    if flow.concurrency is not None:
        release = SlotRequest.release(execution.id, execution.namespace, execution.flow_id)
        out.append(Outgoing("concurrency", release.key, release.model_dump_json().encode()))
    return out


def _to_executor(event: Event) -> Outgoing:
    return Outgoing("executor", event.execution_id, encode_event(event))
