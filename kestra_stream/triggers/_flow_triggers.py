"""The Flow-trigger component: follows execution state changes and starts the flows they trigger.

    async with FlowTriggers(engine, engine.flows, home=path) as triggers:          # embedded
        ...
    async with FlowTriggers.on_kafka(stack, stack.flows, settings, home=path):    # Kafka
        ...

A ``StateSource`` (``_flow_source``) hands it every execution snapshot, on any thread: by default
the backend's listeners (``backend.subscribe``); on Kafka a consumer that resumes at its group's
committed offsets, so that executions ending while no component runs still start their
downstream flows. It picks out state changes (a terminal state once the execution has finished,
afterExecution included), evaluates them with ``_flow.evaluate``, starts each firing through
``emit_execution`` with a key naming the upstream state change(s) — the same change seen twice
(a redelivery, two processes) starts one execution — and only then acknowledges the change.

Precondition state is kept in a SQLite file under ``home`` on both backends so that it survives a
restart. With a source that delivers unacknowledged changes again (Kafka) it is written after the
firings are emitted: a crash in between evaluates the same change against the same state again,
and fires the same keys. Without one (embedded) it is written before, as nothing would replay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from kestra_stream.backend import Backend, LatestFlows
from kestra_stream.errors import BackendError, KestraStreamError, NotFoundError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings
from kestra_stream.storage import Storage
from kestra_stream.triggers._context import emit_execution, trigger_uid
from kestra_stream.triggers._flow import Firing, UpstreamEvent, any_listening, evaluate
from kestra_stream.triggers._flow_source import BackendStateSource, KafkaStateSource, Received, StateSource
from kestra_stream.triggers._preconditions import PreconditionState
from kestra_stream.triggers._realtime import Backoff

log = structlog.get_logger(__name__)

DB_NAME = "flow-triggers.db"
# State changes already evaluated, per execution (bounded: only recent executions can repeat).
_SEEN_LIMIT = 50_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PreconditionStore:
    """Precondition states by uid, in a small SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS preconditions (uid TEXT PRIMARY KEY, body TEXT NOT NULL)")
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open the flow-trigger state file {path}: {exc}; "
                               f"check that the directory is writable") from exc

    def load(self) -> dict[str, PreconditionState]:
        rows = self._db.execute("SELECT uid, body FROM preconditions").fetchall()
        return {uid: PreconditionState.model_validate_json(body) for uid, body in rows}

    def save(self, states: dict[str, PreconditionState | None]) -> None:
        with contextlib.closing(self._db.cursor()) as cursor:
            cursor.execute("BEGIN")
            for uid, state in states.items():
                if state is None:
                    cursor.execute("DELETE FROM preconditions WHERE uid = ?", (uid,))
                else:
                    cursor.execute("INSERT OR REPLACE INTO preconditions (uid, body) VALUES (?, ?)",
                                   (uid, state.model_dump_json()))
            cursor.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class FlowTriggers:
    """Starts the flows whose Flow triggers fire on execution state changes."""

    def __init__(self, backend: Backend, flows: LatestFlows, *, home: Path,
                 now: Callable[[], datetime] = _utc_now, disabled: Callable[[str], bool] | None = None,
                 source: StateSource | None = None, stop_grace_seconds: float = 5.0,
                 retry: Backoff | None = None, storage: Storage | None = None) -> None:
        """``disabled(uid)`` says whether a trigger was disabled through the API (its trigger state).

        ``source`` defaults to the backend's listeners (``BackendStateSource``); ``on_kafka`` builds
        one that resumes after a restart. ``stop`` evaluates what was already received for up to
        ``stop_grace_seconds``; the rest is left unacknowledged. A firing the backend could not take
        (a ``BackendError``: the broker is away) is retried with ``retry`` until it is taken or the
        component stops. ``storage`` holds the files of triggers with logToFile.
        """
        self._backend = backend
        self._storage = storage
        self._disabled = disabled
        self._flows = flows
        self._path = home / DB_NAME
        self._now = now
        self._source: StateSource = source if source is not None else BackendStateSource(backend)
        self._grace = stop_grace_seconds
        self._retry = retry or Backoff(initial_seconds=0.2, max_seconds=10.0)
        self._store: PreconditionStore | None = None
        self._states: dict[str, PreconditionState] = {}
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._queue: asyncio.Queue[Received] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.evaluated = 0  # state changes evaluated since start
        self.fired = 0      # executions started (or asked again: a firing seen twice) since start

    @classmethod
    def on_kafka(cls, backend: Backend, flows: LatestFlows, settings: KafkaSettings, *, home: Path,
                 disabled: Callable[[str], bool] | None = None, group_id: str | None = None,
                 now: Callable[[], datetime] = _utc_now, storage: Storage | None = None) -> FlowTriggers:
        """Flow triggers reading the execution-state topic in a consumer group of their own, resuming
        where they stopped; ``group_id`` defaults to one made once for ``home`` and kept there."""
        return cls(backend, flows, home=home, now=now, disabled=disabled, storage=storage,
                   source=KafkaStateSource(settings, home=home, group_id=group_id))

    @property
    def source(self) -> StateSource:
        return self._source

    async def start(self) -> None:
        self._store = PreconditionStore(self._path)
        self._states = self._store.load()
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._seen.clear()
        self.evaluated = self.fired = 0
        self._running = True
        self._task = asyncio.create_task(self._run(), name="flow-triggers")
        try:
            await self._source.start(self._on_state)
        except BaseException:
            await self.stop()
            raise
        log.info("flow_triggers_started", state_file=str(self._path), preconditions=len(self._states))

    async def stop(self) -> None:
        self._running = False  # what arrives from now on is left unacknowledged
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self._grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._source.stop()
        if self._store is not None:
            self._store.close()
            self._store = None

    async def __aenter__(self) -> FlowTriggers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def drain(self) -> None:
        """Return once every state change received so far has been evaluated and its firings emitted."""
        await self._queue.join()

    async def caught_up(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Return once every state change published before the call was evaluated and its firings emitted."""
        await self._source.caught_up(timeout)
        await self.drain()

    @property
    def preconditions(self) -> dict[str, PreconditionState]:
        """Stored precondition states by ``namespace/flowId/triggerId/preconditionId`` (a copy)."""
        return dict(self._states)

    # ----- receiving ------------------------------------------------------------------------------
    def _on_state(self, received: Received) -> None:
        """Called by the source, on its own thread (Kafka) or loop (embedded)."""
        loop = self._loop
        if not self._running or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between: the component is stopped
            loop.call_soon_threadsafe(self._queue.put_nowait, received)

    def _state_change(self, state: ExecutionState, at: datetime | None) -> UpstreamEvent | None:
        """The snapshot as a state change not evaluated yet, or None."""
        execution = state.execution
        current = execution.state.current
        if current.is_created or (current.is_terminated and not state.finished):
            return None  # an end counts once the execution has finished (afterExecution included)
        transition = len(execution.state.histories)
        if self._seen.get(execution.id, 0) >= transition:
            return None
        self._seen[execution.id] = transition
        self._seen.move_to_end(execution.id)
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return UpstreamEvent(execution=execution, at=at or self._now())

    async def _run(self) -> None:
        while True:
            received = await self._queue.get()
            try:
                await self._evaluate(received)
            finally:
                self._queue.task_done()

    async def _evaluate(self, received: Received) -> None:
        if not any_listening(self._flows.all_latest()):
            received.ack()  # nothing could fire: the snapshot is not even decoded
            return
        state = received.state
        try:
            event = self._state_change(state, received.at) if state is not None else None
            if event is not None:
                await self._handle(event)
                self.evaluated += 1
        except asyncio.CancelledError:
            raise  # stopped in the middle: not acknowledged, a source that redelivers brings it again
        except Exception:
            # A change that cannot be evaluated is not evaluated again: it would fail the same way.
            log.exception("flow_trigger_evaluation_failed",
                          upstream_execution_id=state.execution.id if state is not None else None)
        received.ack()

    async def _handle(self, event: UpstreamEvent) -> None:
        evaluation = evaluate(event, self._flows.all_latest(), self._states)
        save_first = not self._source.redelivers
        if save_first:
            self._save(evaluation.states)
        for firing in evaluation.firings:
            await self._fire(firing, event)
        if not save_first:
            self._save(evaluation.states)

    def _save(self, states: dict[str, PreconditionState | None]) -> None:
        if not states or self._store is None:
            return
        self._store.save(states)
        for uid, stored in states.items():
            if stored is None:
                self._states.pop(uid, None)
            else:
                self._states[uid] = stored

    async def _fire(self, firing: Firing, event: UpstreamEvent) -> None:
        flow, trigger = firing.flow, firing.trigger
        bound = log.bind(namespace=flow.namespace, flow_id=flow.id, trigger_id=trigger.id,
                         upstream_execution_id=event.execution.id, key=firing.key)
        if self._disabled is not None and self._disabled(trigger_uid(flow, trigger)):
            bound.info("flow_trigger_disabled")
            return
        failures = 0
        while True:
            try:
                execution_id = await emit_execution(self._backend, flow, trigger, firing.variables,
                                                    key=firing.key, at=event.at, storage=self._storage)
                break
            except BackendError as exc:
                if isinstance(exc, NotFoundError):  # the flow is gone: nothing to start
                    bound.warning("flow_trigger_not_started", error=str(exc))
                    return
                # The backend did not take it (the broker is away): it is not dropped, it waits.
                failures += 1
                delay = self._retry.delay(failures)
                bound.warning("flow_trigger_retrying", error=str(exc), failures=failures, retry_in_seconds=delay)
                await asyncio.sleep(delay)
            except KestraStreamError as exc:
                # As Kestra: an execution that cannot be created (invalid inputs ...) is logged, not retried.
                bound.warning("flow_trigger_not_started", error=str(exc))
                return
        self.fired += 1
        bound.info("flow_trigger_fired", execution_id=execution_id)
