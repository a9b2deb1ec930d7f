"""The executor runtime over plain dicts: an inbox, states, timers, jobs and logs in memory.

For tests of the executor as a whole, with no broker, no file and no sleep: time is a
``ManualClock`` that timers move forward, and workers are a function answering each job.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kestra_stream.errors import BackendError
from kestra_stream.executor.commands import RunTask, ScheduleTimer
from kestra_stream.executor.effects import FlowLookup
from kestra_stream.executor.events import Event, TaskResult, TimerFired
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.plan import Effects, plan_effects
from kestra_stream.executor.runtime import Decision, ExecutorRuntime, FlowInjection, ManualClock
from kestra_stream.executor.slots import SlotBook, apply_request
from kestra_stream.ids import derive_id
from kestra_stream.models.log import LogEntry

Worker = Callable[[RunTask], TaskResult | None]


@dataclass
class _Planned:
    decision: Decision
    effects: Effects


@dataclass
class MemoryExecutor:
    """Fold events through the runtime; ``refuse_writes`` first writes fail, as a broker away would."""

    flows: FlowLookup
    worker: Worker | None = None
    clock: ManualClock = field(default_factory=ManualClock)
    flow_wait_seconds: float = 0.0
    refuse_writes: int = 0
    states: dict[str, ExecutionState] = field(default_factory=dict)
    timers: dict[str, ScheduleTimer] = field(default_factory=dict)
    jobs: list[RunTask] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # event ids, in the order they were acknowledged
    write_attempts: int = 0
    books: dict[str, SlotBook] = field(default_factory=dict)
    inbox: deque[Event] = field(default_factory=deque)
    templates: FlowInjection | None = None

    def __post_init__(self) -> None:
        self.runtime = ExecutorRuntime(self.flows, clock=self.clock, flow_wait_seconds=self.flow_wait_seconds,
                                       templates=self.templates)

    async def run(self, *events: Event) -> None:
        """Fold ``events`` and all they lead to, timers included (the clock jumps to each), until idle."""
        self.inbox.extend(events)
        while self.inbox or self.timers:
            if not self.inbox:
                timer = min(self.timers.values(), key=lambda t: t.fire_at)
                wait = (timer.fire_at - self.clock.now()).total_seconds()
                if wait > 0:
                    self.clock.advance(wait)
                self.inbox.append(TimerFired(event_id=derive_id("timer", timer.timer_id),
                                             execution_id=timer.execution_id, at=self.clock.now(),
                                             timer_id=timer.timer_id, purpose=timer.purpose,
                                             taskrun_id=timer.taskrun_id, attempt=timer.attempt))
                del self.timers[timer.timer_id]
            event = self.inbox.popleft()
            await self.runtime.handle(event, self.states.get(event.execution_id), self)
            self.acknowledged.append(event.event_id)

    # ----- the outbox ----------------------------------------------------------------------------
    def prepare(self, decision: Decision) -> _Planned:
        return _Planned(decision, plan_effects(decision.event.event_id, decision.state, decision.commands,
                                               decision.flow, self.flows, decision.at))

    async def write(self, planned: _Planned) -> None:
        self.write_attempts += 1
        if self.refuse_writes > 0:
            self.refuse_writes -= 1
            raise BackendError("write refused (simulated outage)")
        decision, effects = planned.decision, planned.effects
        if decision.state is not None:
            self.states[decision.state.execution.id] = decision.state
        for timer_id in effects.cancel:
            self.timers.pop(timer_id, None)
        self.timers.update((t.timer_id, t) for t in effects.schedule)
        self.logs.extend(effects.logs)
        self.inbox.extend(effects.events)
        for request in effects.slots:
            book, answered = apply_request(self.books.get(request.key, SlotBook()), request, decision.at)
            self.books[request.key] = book
            self.inbox.extend(answered)
        for job in effects.jobs:
            self.jobs.append(job)
            result = self.worker(job) if self.worker is not None else None
            if result is not None:
                self.inbox.append(result)
