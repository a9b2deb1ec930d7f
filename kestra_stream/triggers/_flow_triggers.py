"""The Flow-trigger component: follows execution state changes and starts the flows they trigger.

    async with FlowTriggers(backend, flows, home=path) as triggers:
        ...

``backend.subscribe`` hands it every execution snapshot (on any thread); it picks out state
changes (a terminal state once the execution has finished, afterExecution included), evaluates
them with ``_flow.evaluate`` and starts each firing through ``emit_execution`` with a key naming
the upstream state change(s): the same change seen twice (a redelivery, two processes) starts
one execution.

Precondition state is kept in a SQLite file under ``home`` on both backends, written before the
firings it leads to are emitted, so that it survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from kestra_stream.backend import Backend
from kestra_stream.errors import BackendError, KestraStreamError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.flow import Flow
from kestra_stream.triggers._context import emit_execution, trigger_uid
from kestra_stream.triggers._flow import Firing, UpstreamEvent, evaluate
from kestra_stream.triggers._preconditions import PreconditionState

log = structlog.get_logger(__name__)

DB_NAME = "flow-triggers.db"
# State changes already evaluated, per execution (bounded: only recent executions can repeat).
_SEEN_LIMIT = 50_000


class FlowSource(Protocol):
    """The latest revision of every flow (``EmbeddedEngine.catalog``, ``KafkaStack.flows``)."""

    def all_latest(self) -> list[Flow]: ...


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

    def __init__(self, backend: Backend, flows: FlowSource, *, home: Path,
                 now: Callable[[], datetime] = _utc_now, disabled: Callable[[str], bool] | None = None) -> None:
        """``disabled(uid)`` says whether a trigger was disabled through the API (its trigger state)."""
        self._backend = backend
        self._disabled = disabled
        self._flows = flows
        self._path = home / DB_NAME
        self._now = now
        self._store: PreconditionStore | None = None
        self._states: dict[str, PreconditionState] = {}
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._queue: asyncio.Queue[ExecutionState] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._subscribed = False

    async def start(self) -> None:
        self._store = PreconditionStore(self._path)
        self._states = self._store.load()
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._running = True
        if not self._subscribed:  # a backend offers no unsubscribe: a restarted component subscribes once
            self._backend.subscribe(self._on_state)
            self._subscribed = True
        self._task = asyncio.create_task(self._run(), name="flow-triggers")
        log.info("flow_triggers_started", state_file=str(self._path), preconditions=len(self._states))

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
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

    @property
    def preconditions(self) -> dict[str, PreconditionState]:
        """Stored precondition states by ``namespace/flowId/triggerId/preconditionId`` (a copy)."""
        return dict(self._states)

    # ----- receiving ------------------------------------------------------------------------------
    def _on_state(self, state: ExecutionState) -> None:
        """Called by the backend, on its own thread (Kafka) or loop (embedded)."""
        loop = self._loop
        if not self._running or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between: the component is stopped
            loop.call_soon_threadsafe(self._queue.put_nowait, state)

    def _state_change(self, state: ExecutionState) -> UpstreamEvent | None:
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
        return UpstreamEvent(execution=execution, at=self._now())

    async def _run(self) -> None:
        while True:
            state = await self._queue.get()
            try:
                event = self._state_change(state)
                if event is not None:
                    await self._handle(event)
            except Exception:
                log.exception("flow_trigger_evaluation_failed", upstream_execution_id=state.execution.id)
            finally:
                self._queue.task_done()

    async def _handle(self, event: UpstreamEvent) -> None:
        evaluation = evaluate(event, self._flows.all_latest(), self._states)
        if evaluation.states and self._store is not None:
            self._store.save(evaluation.states)
            for uid, stored in evaluation.states.items():
                if stored is None:
                    self._states.pop(uid, None)
                else:
                    self._states[uid] = stored
        for firing in evaluation.firings:
            await self._fire(firing, event)

    async def _fire(self, firing: Firing, event: UpstreamEvent) -> None:
        flow, trigger = firing.flow, firing.trigger
        bound = log.bind(namespace=flow.namespace, flow_id=flow.id, trigger_id=trigger.id,
                         upstream_execution_id=event.execution.id, key=firing.key)
        if self._disabled is not None and self._disabled(trigger_uid(flow, trigger)):
            bound.info("flow_trigger_disabled")
            return
        try:
            execution_id = await emit_execution(self._backend, flow, trigger, firing.variables,
                                                key=firing.key, at=event.at)
        except KestraStreamError as exc:
            # As Kestra: an execution that cannot be created (invalid inputs ...) is logged, not retried.
            bound.warning("flow_trigger_not_started", error=str(exc))
            return
        bound.info("flow_trigger_fired", execution_id=execution_id)
