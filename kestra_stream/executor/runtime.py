"""The executor runtime: what every backend does around the fold, and its failure contract.

Per event: find the flow (waiting, within a bound, for a revision the flow store has not read
yet), fold, plan the effects, and hand them to the backend's outbox until they are durable.
Backends are adapters: they bring the event source (and acknowledge an event only once
``handle`` returned), the state, the outbox, and a clock.

The contract: nothing escapes ``handle`` and nothing is skipped.

- A flow revision still missing after ``flow_wait_seconds`` ends the execution FAILED with a
  message naming the revision.
- A fold that raises (a bug, a plugin doing what it must not) ends the execution FAILED with
  the error and its traceback in the execution's logs. A flowable plugin whose ``resolve``
  raises is caught closer, by the fold itself: only that task run fails.
- A write the outbox cannot make (broker away, produce refused, disk full) is retried with
  backoff until it succeeds; an outage is logged on its first failure, then once every
  ``outage_log_seconds``, then on recovery, never once per attempt.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from kestra_stream.errors import BackendError, KestraStreamError
from kestra_stream.executor._failing import fail_execution
from kestra_stream.executor.commands import Command
from kestra_stream.executor.effects import FlowLookup
from kestra_stream.executor.events import (
    Event,
    EvictionDue,
    ExecutionCreated,
    ExecutionReplayed,
    LabelsSet,
    RecordUnreadable,
    RestartRequested,
    TaskRunStateSet,
)
from kestra_stream.executor.fold import ExecutionState, fold
from kestra_stream.models.flow import Flow

log = structlog.get_logger(__name__)

# The events that change an ended execution: a backend that evicted it reads its last snapshot back first.
REVIVING = (RestartRequested, TaskRunStateSet, LabelsSet)

P = TypeVar("P")
T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to, or when something sleeps on it: tests run without waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


class OutageLog:
    """Log a failing dependency a bounded number of times: its first failure, a summary every
    ``every`` seconds while it lasts, and its recovery."""

    def __init__(self, what: str, clock: Clock, *, every: float = 30.0, logger: Any = None) -> None:
        self.what = what
        self._clock = clock
        self._every = every
        self._log = logger or log
        self._since: float | None = None
        self._last_line = 0.0
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> None:
        now = self._clock.monotonic()
        self.failures += 1
        if self._since is None:
            self._since = self._last_line = now
            self._log.warning(f"{self.what}_failing", error=_describe(error), retry="with backoff until it succeeds")
        elif now - self._last_line >= self._every:
            self._last_line = now
            self._log.warning(f"{self.what}_still_failing", error=_describe(error), failures=self.failures,
                              seconds=round(now - self._since, 1))

    def recovered(self) -> None:
        if self._since is None:
            return
        self._log.info(f"{self.what}_recovered", failures=self.failures,
                       seconds=round(self._clock.monotonic() - self._since, 1))
        self._since = None
        self.failures = 0


def notify(listeners: Sequence[Callable[[T], None]], value: T) -> None:
    """In-process listeners see what the runtime decided; one that raises is its owner's bug, not the event's."""
    for listener in listeners:
        try:
            listener(value)
        except Exception:
            log.exception("listener_failed", listener=getattr(listener, "__qualname__", repr(listener)))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class Decision:
    """What the runtime decided for one event: the new state and the commands, with the flow used."""

    event: Event
    before: ExecutionState | None
    state: ExecutionState | None
    commands: list[Command]
    flow: Flow | None  # None when it is missing (the execution was failed without it)
    at: datetime

    @property
    def changed(self) -> bool:
        return self.state is not None and self.state is not self.before


class Outbox(Protocol[P]):
    """A backend's way to make a decision durable: ``prepare`` is pure (it may raise on a bad decision,
    never on I/O), ``write`` does the I/O and may be called again after it failed."""

    def prepare(self, decision: Decision) -> P: ...

    async def write(self, prepared: P) -> None: ...


class FlowInjection(Protocol):
    """What the executor adds to a flow it read before folding with it (the templates its flow.Template tasks
    include); raises only when what it reads is unreachable, which is retried."""

    async def inject(self, flow: Flow) -> Flow: ...


class ExecutorRuntime:
    def __init__(self, flows: FlowLookup, *, clock: Clock | None = None, flow_wait_seconds: float = 30.0,
                 retry_first_seconds: float = 0.1, retry_max_seconds: float = 5.0,
                 outage_log_seconds: float = 30.0, templates: FlowInjection | None = None) -> None:
        self.flows = flows
        self.templates = templates
        self.clock: Clock = clock or SystemClock()
        self.flow_wait_seconds = flow_wait_seconds
        self._retry_first = retry_first_seconds
        self._retry_max = retry_max_seconds
        self.delivery = OutageLog("executor_delivery", self.clock, every=outage_log_seconds)
        self.template_reads = OutageLog("executor_templates", self.clock, every=outage_log_seconds)

    async def handle(self, event: Event, state: ExecutionState | None, outbox: Outbox[P]) -> Decision:
        """Decide, then write through ``outbox`` until durable; the event may be acknowledged on return."""
        decision, prepared = await self.prepare(event, state, outbox)
        await self.durably(lambda: outbox.write(prepared))
        return decision

    async def prepare(self, event: Event, state: ExecutionState | None, outbox: Outbox[P]) -> tuple[Decision, P]:
        """Decide, and what ``outbox`` must write for it, without writing: a backend folding a batch writes the
        batch's decisions at once. Decisions whose effects cannot be prepared end their execution FAILED."""
        decision = await self.decide(event, state)
        try:
            prepared = outbox.prepare(decision)
        except Exception as exc:
            decision = self._crashed(event, state, exc, "its effects could not be prepared")
            try:
                prepared = outbox.prepare(decision)
            except Exception:
                # The execution failed as it was cannot be stored either (too large): without its outputs.
                decision = self._crashed(event, state, exc, "its effects could not be prepared", keep_outputs=False)
                prepared = outbox.prepare(decision)
        return decision, prepared

    async def durably(self, write: Callable[[], Awaitable[None]]) -> None:
        """Call ``write`` until it succeeds, backing off between attempts; the outage is logged boundedly."""
        delay = self._retry_first
        while True:
            try:
                await write()
            except Exception as exc:
                self.delivery.failed(exc)
                await self.clock.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self.delivery.recovered()
            return

    async def decide(self, event: Event, state: ExecutionState | None) -> Decision:
        """The fold's answer to ``event``, or the execution ended FAILED when there can be none."""
        if isinstance(event, RecordUnreadable):
            return self._unreadable(event, state)
        if isinstance(event, EvictionDue):  # the backend's bookkeeping: the execution itself does not change
            return Decision(event, state, state, [], None, event.at)
        at = self.clock.now()
        found = await self._flow_for(event, state)
        if isinstance(found, str):
            new_state, commands = fail_execution(state, event, found, at)
            return Decision(event, state, new_state, commands, None, at)
        if found is None:
            # An event for an execution that does not exist: deleted, or a late event of a purged one.
            log.debug("event_for_unknown_execution", execution_id=event.execution_id, kind=event.kind)
            return Decision(event, state, state, [], None, at)
        try:
            new_state, commands = fold(state, event, found)
        except Exception as exc:
            return self._crashed(event, state, exc, "the executor failed on it")
        return Decision(event, state, new_state, commands, found, at)

    def _unreadable(self, event: RecordUnreadable, state: ExecutionState | None) -> Decision:
        """Fail a running execution one of whose events could not be read; its time is the event's, so a
        replay decides the same. An ended or unknown execution has nothing left to wait for."""
        if state is None or state.finished:
            return Decision(event, state, state, [], None, event.at)
        message = (f"Execution failed: one of its events could not be read by this version of the executor "
                   f"({event.reason}); it was kept aside on the dead-letter topic.")
        new_state, commands = fail_execution(state, event, message, event.at)
        return Decision(event, state, new_state, commands, None, event.at)

    def _crashed(self, event: Event, state: ExecutionState | None, error: Exception, what: str, *,
                 keep_outputs: bool = True) -> Decision:
        message = (f"Execution failed: a {event.kind} event ({event.event_id}) could not be applied, {what}: "
                   f"{_describe(error)}")
        if isinstance(error, KestraStreamError):  # raised on purpose, its message says it all
            log.error("event_failed_its_execution", execution_id=event.execution_id, kind=event.kind,
                      event_id=event.event_id, error=str(error))
        else:
            log.exception("event_failed_its_execution", execution_id=event.execution_id, kind=event.kind,
                          event_id=event.event_id)
            message += "\n" + "".join(traceback.format_exception(error)).rstrip()
        at = self.clock.now()
        new_state, commands = fail_execution(state, event, message, at, keep_outputs=keep_outputs)
        return Decision(event, state, new_state, commands, None, at)

    async def _flow_for(self, event: Event, state: ExecutionState | None) -> Flow | str | None:
        """The flow to fold with; a message when it cannot be found; None when there is no execution."""
        if isinstance(event, ExecutionCreated):
            return await self._await_flow(event.namespace, event.flow_id, event.flow_revision)
        execution = event.source if isinstance(event, ExecutionReplayed) else state.execution if state else None
        if execution is None:
            return None
        return await self._await_flow(execution.namespace, execution.flow_id, execution.flow_revision)

    async def _await_flow(self, namespace: str, flow_id: str, revision: int) -> Flow | str:
        """A revision this process has not read yet may be on its way (deployed and executed at once
        through another process): wait for it, within ``flow_wait_seconds``."""
        deadline = self.clock.monotonic() + self.flow_wait_seconds
        delay = 0.05
        waited = False
        while True:
            try:
                flow = self.flows.get(namespace, flow_id, revision)[0]
            except BackendError as exc:
                error = exc
            else:
                # Templates off (the default): no step at all on this per-event path.
                return flow if self.templates is None else await self._injected(self.templates, flow)
            left = deadline - self.clock.monotonic()
            if left <= 0 or getattr(error, "deleted", False):
                break
            if not waited:
                waited = True
                log.info("flow_revision_awaited", namespace=namespace, flow_id=flow_id, revision=revision,
                         up_to_seconds=self.flow_wait_seconds)
            await self.clock.sleep(min(delay, left))
            delay = min(delay * 2, 1.0)
        return (f"Flow {namespace}.{flow_id} revision {revision} is not known to the executor (its flow store "
                f"was given {self.flow_wait_seconds:g}s to read it): {error}. Deploy that revision, or run the "
                "execution again on a revision that exists.")

    async def _injected(self, templates: FlowInjection, flow: Flow) -> Flow:
        """The flow with its templates (Kestra injects them each time its executor reads a flow). Reading them is
        I/O (internal storage): an outage is waited out with backoff, as a delivery is, never a failed execution."""
        delay = self._retry_first
        while True:
            try:
                injected = await templates.inject(flow)
            except Exception as exc:
                self.template_reads.failed(exc)
                await self.clock.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self.template_reads.recovered()
            return injected
