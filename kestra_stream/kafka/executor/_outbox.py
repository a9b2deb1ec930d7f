"""What a plan of effects becomes on Kafka: messages to topics (timers stay in the executor's table).

Pure: no I/O. The plan itself (``kestra_stream.executor.plan``) is the same on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kestra_stream.executor.commands import Command, ScheduleTimer
from kestra_stream.executor.effects import FlowLookup
from kestra_stream.executor.events import Event
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.plan import Effects, plan_effects
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
    """A plan's messages, with the timer changes the executor keeps in its own table."""

    messages: list[Outgoing] = field(default_factory=list)
    schedule: list[ScheduleTimer] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)


def messages_of(effects: Effects) -> Plan:
    out = Plan(schedule=list(effects.schedule), cancel=list(effects.cancel))
    out.messages.extend(Outgoing("jobs", job.taskrun_id, encode_job(job)) for job in effects.jobs)
    out.messages.extend(Outgoing("killed", kill.taskrun_id, kill.model_dump_json().encode()) for kill in effects.kills)
    out.messages.extend(Outgoing("logs", entry.execution_id, encode_log(entry)) for entry in effects.logs)
    out.messages.extend(Outgoing("executor", e.execution_id, encode_event(e)) for e in effects.events)
    out.messages.extend(Outgoing("concurrency", r.key, r.model_dump_json().encode()) for r in effects.slots)
    return out


def plan_commands(cause: Event, state: ExecutionState | None, commands: Sequence[Command], flow: Flow | None,
                  flows: FlowLookup, at: datetime) -> Plan:
    """Translate ``commands`` (folded from ``cause`` with ``flow``) into messages and timer changes."""
    return messages_of(plan_effects(cause.event_id, state, commands, flow, flows, at))
