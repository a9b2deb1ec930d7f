"""The realtime-triggers component: one long-lived listener per realtime trigger of every flow.

For every latest flow that is not disabled, each enabled ``RealtimeTrigger`` (a Kafka topic, for
a start) gets one asyncio task running ``trigger.listen(ctx)``. A listener that raises, or
returns, is started again after a backoff that doubles up to a ceiling and starts over once a
listener ran long enough to count as healthy. Flows are polled every ``refresh_seconds``: a new
revision replaces the listeners of its flow, a disabled or deleted flow or trigger stops them.

Listeners acknowledge their source only after ``ctx.emit`` returned, and the execution id is
derived from what fired, so a listener restarted mid-stream (a crash, a broker restart, a new
flow revision) neither loses nor duplicates an execution.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from kestra_stream.backend import Backend, LatestFlows
from kestra_stream.models.flow import Flow
from kestra_stream.models.task import RealtimeTrigger
from kestra_stream.storage import Storage
from kestra_stream.triggers._context import UNGROUPED, BackendTriggerContext, trigger_uid

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before starting a failed listener again."""

    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    # A listener that ran this long before failing starts the doubling over.
    healthy_after_seconds: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row (1-based)."""
        return float(min(self.max_seconds, self.initial_seconds * 2 ** max(0, failures - 1)))


@dataclass
class _Listener:
    flow: Flow
    trigger: RealtimeTrigger
    task: asyncio.Task[None] | None = None
    starts: int = 0
    failures: int = 0


def _wanted(flows: list[Flow], disabled: Callable[[str], bool],
            groups: frozenset[str | None]) -> dict[str, tuple[Flow, RealtimeTrigger]]:
    wanted: dict[str, tuple[Flow, RealtimeTrigger]] = {}
    for flow in flows:
        if flow.disabled:
            continue
        for trigger in flow.triggers or ():
            uid = trigger_uid(flow, trigger)
            if (isinstance(trigger, RealtimeTrigger) and not trigger.disabled and trigger.group_key in groups
                    and not disabled(uid)):
                wanted[uid] = (flow, trigger)
    return wanted


def _never(_uid: str) -> bool:
    return False


class RealtimeTriggers:
    """Runs the listeners of realtime triggers; ``start``/``stop``, or ``async with``."""

    def __init__(self, backend: Backend, flows: LatestFlows, storage: Storage, *, refresh_seconds: float = 1.0,
                 backoff: Backoff | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 disabled: Callable[[str], bool] = _never, groups: frozenset[str | None] = UNGROUPED) -> None:
        """``disabled(uid)`` says whether a trigger was disabled through the API (its trigger state);
        ``groups``: the workerGroup keys whose triggers listen here (None: the triggers of no group)."""
        self._backend = backend
        self._groups = groups
        self._disabled = disabled
        self._flows = flows
        self._storage = storage
        self._refresh_seconds = refresh_seconds
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._monotonic = monotonic
        self._listeners: dict[str, _Listener] = {}
        self._refresher: asyncio.Task[None] | None = None
        # Listeners of replaced or removed triggers, until their cancellation completed.
        self._retiring: list[asyncio.Task[None]] = []

    # ----- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.refresh()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="realtime-triggers-refresh")
        log.info("realtime_triggers_started", listeners=len(self._listeners))

    async def stop(self) -> None:
        tasks = [listener.task for listener in self._listeners.values() if listener.task is not None]
        tasks += self._retiring
        self._retiring.clear()
        if self._refresher is not None:
            tasks.append(self._refresher)
            self._refresher = None
        self._listeners.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("realtime_triggers_stopped")

    async def __aenter__(self) -> RealtimeTriggers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- what runs ---------------------------------------------------------------------------
    def running(self) -> dict[str, int | None]:
        """The flow revision each listener runs, by trigger uid (``namespace/flowId/triggerId``)."""
        return {uid: listener.flow.revision for uid, listener in self._listeners.items()}

    def starts(self, uid: str) -> int:
        """How many times the listener of ``uid`` was started (1 + its restarts); 0 when none runs."""
        listener = self._listeners.get(uid)
        return listener.starts if listener is not None else 0

    def refresh(self) -> None:
        """Start, replace or stop listeners so they match the latest flows."""
        try:
            wanted = _wanted(self._flows.all_latest(), self._disabled, self._groups)
        except Exception as exc:  # a flow store hiccup must not stop the listeners already running
            log.error("realtime_triggers_flows_unreadable", error=str(exc))
            return
        for uid in list(self._listeners):
            listener = self._listeners[uid]
            now = wanted.get(uid)
            if now is None or now[0].revision != listener.flow.revision:
                del self._listeners[uid]
                if listener.task is not None:
                    listener.task.cancel()
                    self._retiring.append(listener.task)
                log.info("realtime_trigger_stopped", trigger=uid, revision=listener.flow.revision,
                         reason="flow changed" if now is not None else "flow or trigger disabled or deleted")
        self._retiring = [task for task in self._retiring if not task.done()]
        for uid, (flow, trigger) in wanted.items():
            if uid not in self._listeners:
                self._start(uid, flow, trigger)

    def _start(self, uid: str, flow: Flow, trigger: RealtimeTrigger) -> None:
        listener = _Listener(flow, trigger)
        listener.task = asyncio.create_task(self._supervise(listener), name=f"realtime-trigger {uid}")
        self._listeners[uid] = listener

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            self.refresh()

    async def _supervise(self, listener: _Listener) -> None:
        flow, trigger = listener.flow, listener.trigger
        bound = log.bind(namespace=flow.namespace, flow_id=flow.id, trigger_id=trigger.id, revision=flow.revision)
        while True:
            listener.starts += 1
            began = self._monotonic()
            bound.info("realtime_trigger_listening", start=listener.starts)
            try:
                await trigger.listen(BackendTriggerContext(self._backend, flow, trigger, self._storage))
                bound.warning("realtime_trigger_returned", hint="a realtime trigger should listen until cancelled")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                bound.error("realtime_trigger_failed", error=str(exc), error_type=type(exc).__name__)
            if self._monotonic() - began >= self._backoff.healthy_after_seconds:
                listener.failures = 0
            listener.failures += 1
            delay = self._backoff.delay(listener.failures)
            bound.info("realtime_trigger_restarting", in_seconds=delay, failures=listener.failures)
            await self._sleep(delay)

