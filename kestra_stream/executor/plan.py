"""One fold's commands as one typed plan of effects, the same on every backend.

Pure: no I/O, the clock comes in as ``at``. Every event built here has an id derived from
what caused it (``cause_id``), so planning a redelivered event again builds the same events,
which the fold then ignores. A backend only carries the plan out: it stores or produces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    Command,
    CreateExecution,
    EmitLog,
    ExecutionEnded,
    ExecutionStarted,
    KillExecution,
    KillTask,
    RestartExecution,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.effects import (
    FlowLookup,
    child_creation,
    log_entry,
    parent_notification,
    start_notification,
)
from kestra_stream.executor.events import Event, KillRequested, RestartRequested
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.slots import SlotRequest
from kestra_stream.ids import derive_id
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry


@dataclass
class Effects:
    """Everything one fold asks for, each kind in the order its commands came."""

    jobs: list[RunTask] = field(default_factory=list)
    kills: list[KillTask] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    schedule: list[ScheduleTimer] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    # To the executor inbox: children and new tries created, kills and restarts of other executions, parents told.
    events: list[Event] = field(default_factory=list)
    slots: list[SlotRequest] = field(default_factory=list)
    ended: list[ExecutionEnded] = field(default_factory=list)


def plan_effects(cause_id: str, state: ExecutionState | None, commands: Sequence[Command], flow: Flow | None,
                 flows: FlowLookup, at: datetime) -> Effects:
    """The effects of ``commands``, folded from the event ``cause_id`` with ``flow`` (None: the flow is missing)."""
    plan = Effects()
    for command in commands:
        if isinstance(command, RunTask):
            plan.jobs.append(command)
        elif isinstance(command, KillTask):
            plan.kills.append(command)
        elif isinstance(command, ScheduleTimer):
            plan.schedule.append(command)
        elif isinstance(command, CancelTimer):
            plan.cancel.append(command.timer_id)
        elif isinstance(command, EmitLog):
            plan.logs.append(log_entry(command, state))
        elif isinstance(command, StartSubflow):
            plan.events.append(child_creation(command, state, flows, at))
        elif isinstance(command, CreateExecution):
            plan.events.append(command.created)
        elif isinstance(command, KillExecution):
            plan.events.append(KillRequested(event_id=derive_id("kill", cause_id, command.execution_id),
                                             execution_id=command.execution_id, at=at))
        elif isinstance(command, RestartExecution):
            plan.events.append(RestartRequested(event_id=derive_id("restart", cause_id, command.execution_id),
                                                execution_id=command.execution_id, at=at))
        elif isinstance(command, AcquireSlot):
            plan.slots.append(SlotRequest.acquire(command))
        elif isinstance(command, ExecutionStarted):
            plan.events.append(start_notification(command, at))
        elif isinstance(command, ExecutionEnded):
            plan.ended.append(command)
            plan.events.extend(parent_notification(command, at))
            execution = command.execution
            # Without its flow nobody knows whether the execution held a slot: releasing one it never
            # held changes nothing.
            if flow is None or flow.concurrency is not None:
                plan.slots.append(SlotRequest.release(execution.id, execution.namespace, execution.flow_id))
    return plan
