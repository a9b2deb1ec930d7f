"""The embedded backend: one process, the event log and states in SQLite, an asyncio worker pool.

The engine only moves events in and commands out of ``fold``. What the fold decides is durable before
it is carried out, in one transaction with the event it folded (appended then, or marked applied when
it was already in ``events``: the events a decision produces, timers that fired). A request is
answered, and a worker's result forgets its job, only once that transaction committed: a crash
before it leaves the request unanswered, or the job pending to run again. The executor folds every
event waiting, up to ``BATCH_EVENTS``, and writes them in one transaction with the task log lines
emitted meanwhile: under load one commit serves many events.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from kestra_stream.embedded._flows import EmbeddedFlows
from kestra_stream.embedded._store import Fold, Store
from kestra_stream.executor._requests import AcceptsRequests, ExecutionRequests
from kestra_stream.executor.commands import RunTask, ScheduleTimer
from kestra_stream.executor.events import Event, TaskResult, TimerFired
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.plan import Effects, plan_effects
from kestra_stream.executor.runtime import Decision, ExecutorRuntime, notify
from kestra_stream.executor.slots import SlotBook, SlotRequest, apply_request, slot_key
from kestra_stream.executor.wire import JOBS
from kestra_stream.executor.worker_groups import with_worker_groups
from kestra_stream.flows import PluginDefault
from kestra_stream.flows.catalog import FlowCatalog
from kestra_stream.ids import derive_id
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.plugins import PluginRegistry
from kestra_stream.search import CountQuery, ExecutionPurge, FlowExecutions, LogPurge
from kestra_stream.storage import LocalStorage, Storage
from kestra_stream.templates import template_injector
from kestra_stream.waiting import wait_set
from kestra_stream.worker import attempt_failed, run_attempt
from kestra_stream.worker.history import History
from kestra_stream.worker.services import BackendServices, StoreLogs

log = structlog.get_logger(__name__)

StateListener = Callable[[ExecutionState], None]
LogListener = Callable[[list[LogEntry]], None]
DeletionListener = Callable[[str], None]
LogPurgeListener = Callable[[LogPurge], None]
ENV_PREFIX = "ENV_"
# Events folded, then written, at once: a larger batch spares more commits, but its first event waits
# for the others to be folded.
BATCH_EVENTS = 64


def envs_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``{{ envs.x }}``: environment variables ``ENV_X``, named in lower case as Kestra does."""
    return {k[len(ENV_PREFIX):].lower(): v for k, v in environ.items() if k.startswith(ENV_PREFIX)}


def _now() -> datetime:
    return datetime.now(UTC)


class EmbeddedEngine(AcceptsRequests):
    def __init__(self, home: Path, *, registry: PluginRegistry | None = None, worker_concurrency: int = 16,
                 globals_: Mapping[str, Any] | None = None, global_defaults: Sequence[PluginDefault] = (),
                 environ: Mapping[str, str] | None = None, storage: Storage | None = None,
                 flow_wait_seconds: float = 0.0, worker_groups: Sequence[str] = ()) -> None:
        self.home = home
        # The worker groups the in-process workers serve besides jobs of no group; a job of another
        # group has no live worker here and follows its fallback (a WAIT job stays stored, not started).
        self.worker_groups = frozenset(worker_groups)
        # Its scheduler and realtime listeners evaluate the triggers of no group and those of its worker groups.
        self.trigger_groups: frozenset[str | None] = frozenset({None, *self.worker_groups})
        self.registry = registry
        self.global_defaults = list(global_defaults)
        self.globals = dict(globals_ or {})
        self.envs = envs_from_environment(os.environ if environ is None else environ)
        self.store = Store(home / "kestra-stream.db")
        self.storage = storage or LocalStorage(home / "storage")
        self.catalog = FlowCatalog()
        self.flows = EmbeddedFlows(self.store, self.catalog, registry=registry, global_defaults=self.global_defaults)
        self._workdirs = home / "work"
        # None: task log lines are waiting to be written (see _emit_log)
        self._queue: asyncio.Queue[_Queued | None] = asyncio.Queue()
        self._pending_logs: list[LogEntry] = []
        self._folding: list[_Queued] = []  # the batch being folded, until carried out
        self._states: dict[str, ExecutionState] = {}
        self._waiters: dict[str, list[asyncio.Future[Execution]]] = {}
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._worker_slots = asyncio.Semaphore(worker_concurrency)
        self._timers: list[tuple[datetime, str, ScheduleTimer]] = []
        self._timer_wakeup = asyncio.Event()
        self._books: dict[str, SlotBook] = {}
        self._listeners: list[StateListener] = []
        self._log_listeners: list[LogListener] = []
        self._deletion_listeners: list[DeletionListener] = []
        self._log_purge_listeners: list[LogPurgeListener] = []
        self._loops: list[asyncio.Task[None]] = []
        self._applied: set[asyncio.Future[None]] = set()
        self._cancelled_timers: set[str] = set()
        # Flows are deployed in this very process, so a revision it does not know will not come: no wait by default.
        self._runtime = ExecutorRuntime(self.catalog, flow_wait_seconds=flow_wait_seconds, templates=template_injector(
            self.storage, registry=registry, global_defaults=self.global_defaults))
        self.requests = ExecutionRequests(self.submit, self.catalog, self.state, storage=self.storage,
                                          envs=self.envs, globals_=self.globals, templates=self._runtime.templates)
        self.services = BackendServices(StoreLogs(self), self.requests,
                                        history=History(_EngineHistory(self), self.storage))

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.flows.load()
        for execution_id in self.store.unfinished_executions():  # oldest first
            state = self.store.load_state(execution_id)
            if state is not None:
                self._states[execution_id] = state
                self._rebook(state)
        for seq, event in self.store.pending_events():
            self._queue.put_nowait(_Queued(event, seq))
        for timer in self.store.timers():
            heapq.heappush(self._timers, (timer.fire_at, timer.timer_id, timer))
        self._loops = [asyncio.create_task(self._executor_loop(), name="executor"),
                       asyncio.create_task(self._timer_loop(), name="timers")]
        # Jobs and commands decided before a crash are carried out again; both are idempotent.
        for body in self.store.jobs():
            self._start_job(JOBS.decode(body))
        await self._recover_outbox()
        log.info("embedded_engine_started", home=str(self.home), recovered=len(self._states))

    def _rebook(self, state: ExecutionState) -> None:
        """Rebuild the slot books after a restart from the executions that were running or queued."""
        ex = state.execution
        flow = self.catalog.get(ex.namespace, ex.flow_id, ex.flow_revision)[0]
        if flow.concurrency is None or ex.state.current.is_terminated:
            return
        book = self._books.get(slot_key(ex.namespace, ex.flow_id), SlotBook(limit=flow.concurrency.limit))
        if ex.state.current == StateType.QUEUED:
            book = book.model_copy(update={"queued": [*book.queued, ex.id]})
        else:
            book = book.model_copy(update={"holders": [*book.holders, ex.id]})
        self._books[slot_key(ex.namespace, ex.flow_id)] = book

    async def stop(self) -> None:
        for applied in self._applied:
            applied.cancel()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        for task in [*self._loops, *self._jobs.values()]:
            task.cancel()
        for task in [*self._loops, *self._jobs.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._keep_unwritten()
        self.store.close()

    def _keep_unwritten(self) -> None:
        """Stopping: task log lines and events not written yet go to the file, the events to be folded at start."""
        self._write_pending_logs()
        waiting: list[_Queued | None] = [*self._folding]
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for queued in waiting:
            if queued is not None and queued.seq is None:
                self.store.append_event(queued.event)
        self._folding = []

    async def __aenter__(self) -> EmbeddedEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- flows -----------------------------------------------------------------------------
    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source becomes a new revision."""
        return self.flows.deploy(source, file=file)

    # ----- requests ----------------------------------------------------------------------------
    async def submit(self, event: Event) -> None:
        """Return once the executor has applied a request: it is then in the event log with its fold."""
        applied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._applied.add(applied)
        self._queue.put_nowait(_Queued(event, applied=applied))
        try:
            await applied
        finally:
            self._applied.discard(applied)

    # ----- reading -----------------------------------------------------------------------------
    def state(self, execution_id: str) -> ExecutionState | None:
        return self._states.get(execution_id) or self.store.load_state(execution_id)

    def logs(self, execution_id: str) -> list[LogEntry]:
        self._write_pending_logs()  # lines emitted and not yet written are read too
        return self.store.logs(execution_id)

    def held(self) -> int:
        """Executions in the engine's memory: only those in flight (an ended one is read from the file)."""
        return len(self._states)

    def subscribe(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def subscribe_logs(self, listener: LogListener) -> None:
        """Called with the log lines of tasks and of the executor, once they are stored."""
        self._log_listeners.append(listener)

    def subscribe_deletions(self, listener: DeletionListener) -> None:
        """Called with the id of each execution deleted, after every state change of it was notified."""
        self._deletion_listeners.append(listener)

    def subscribe_log_purges(self, listener: LogPurgeListener) -> None:
        """Called with each purge of log lines (PurgeLogs), after the lines it covers were notified."""
        self._log_purge_listeners.append(listener)

    def purge_logs(self, purge: LogPurge) -> int:
        """Delete the log lines ``purge`` covers from the SQLite file; returns how many."""
        self._write_pending_logs()  # a line emitted before the purge is purged too
        deleted = self.store.delete_logs(purge)
        notify(self._log_purge_listeners, purge)
        return deleted

    async def delete_execution(self, execution_id: str) -> None:
        """Forget an execution: its state, events and logs leave the SQLite file (the API deletes ended ones).

        No version: the embedded indexer writes the deletion after every snapshot it holds of the
        execution (later in the same batch, or in the next one).
        """
        self._states.pop(execution_id, None)
        self._write_pending_logs()  # none of its lines may be written after it is gone
        # On the loop, like every other use of the store's one connection (transactions must not interleave).
        self.store.delete_execution(execution_id)
        notify(self._deletion_listeners, execution_id)

    async def wait(self, execution_id: str, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        state = self.state(execution_id)
        if state is not None and state.finished:
            return state.execution
        future: asyncio.Future[Execution] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(execution_id, []).append(future)
        return await asyncio.wait_for(future, timeout)

    # ----- the executor ------------------------------------------------------------------------
    async def _executor_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_EVENTS and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._fold_batch([queued for queued in batch if queued is not None])

    async def _fold_batch(self, batch: list[_Queued]) -> None:
        """Fold ``batch`` in order, write every decision (and the task log lines) at once, then carry them out."""
        if not batch and not self._pending_logs:
            return  # woken for log lines that a reader has written meanwhile
        self._folding = batch
        folded: dict[str, ExecutionState] = {}  # states decided earlier in this batch, not yet carried out
        written: list[_Written] = []
        for queued in batch:
            event = queued.event
            state = folded.get(event.execution_id) or self.state(event.execution_id)
            # Never raises: a failure fails the execution.
            decision, prepared = await self._runtime.prepare(event, state, _SqliteOutbox(self, queued))
            if decision.state is not None:
                folded[event.execution_id] = decision.state
            self._books.update(prepared.books)  # the next requests of the batch book against these
            written.append(prepared)
        # A write that fails is retried until it holds; the lines are taken at each attempt.
        await self._runtime.durably(partial(self._write, written))
        for prepared in written:
            self._carry_out(prepared)
            applied = prepared.queued.applied
            if applied is not None and not applied.done():
                applied.set_result(None)
        self._folding = []

    async def _write(self, written: list[_Written]) -> None:
        """One transaction: ``written`` and the task log lines waiting (then shown to the log listeners)."""
        logs, self._pending_logs = self._pending_logs, []
        try:
            seqs = self.store.apply([prepared.fold for prepared in written], logs)
        except BaseException:
            self._pending_logs[:0] = logs
            raise
        for prepared, appended in zip(written, seqs, strict=True):
            prepared.seqs[:] = appended
        if logs:
            notify(self._log_listeners, logs)

    def _book_all(self, requests: Sequence[SlotRequest], at: datetime) -> tuple[dict[str, SlotBook], list[Event]]:
        """Flows' concurrency slots after ``requests``, not yet kept; this single loop sees every request in order."""
        books: dict[str, SlotBook] = {}
        events: list[Event] = []
        for request in requests:
            current = books.get(request.key) or self._books.get(request.key)
            if current is None and request.kind == "release":
                continue  # the flow has no concurrency limit: nothing was held
            book, answered = apply_request(current or SlotBook(), request, at)
            books[request.key] = book
            events.extend(answered)
        return books, events

    def _carry_out(self, written: _Written) -> None:
        """What the stored decision asks of this process: its memory, jobs, timers, waiters and listeners."""
        decision = written.decision
        new_state, effects = decision.state, written.effects
        if new_state is not None:
            if new_state.finished:
                self._states.pop(new_state.execution.id, None)
            else:
                self._states[new_state.execution.id] = new_state
        for job in effects.jobs:
            self._start_job(job)
        for kill in effects.kills:
            running = self._jobs.get(f"{kill.taskrun_id}:{kill.attempt}")
            if running is not None:
                running.cancel()
        for timer in effects.schedule:
            heapq.heappush(self._timers, (timer.fire_at, timer.timer_id, timer))
            self._cancelled_timers.discard(timer.timer_id)
            self._timer_wakeup.set()
        self._cancelled_timers.update(effects.cancel)
        for ended in effects.ended:
            for future in self._waiters.pop(ended.execution.id, []):
                if not future.done():
                    future.set_result(ended.execution)
        for seq, event in zip(written.seqs, written.events, strict=True):
            self._queue.put_nowait(_Queued(event, seq))
        if decision.changed and new_state is not None:
            notify(self._listeners, new_state)
        if effects.logs:
            notify(self._log_listeners, effects.logs)

    async def _recover_outbox(self) -> None:
        """Commands a file written by an earlier version left in its outbox, carried out as a plan."""
        for outbox_id, command in self.store.outbox():
            at = _now()
            effects = plan_effects(derive_id("outbox", outbox_id), self.state(command.execution_id), [command], None,
                                   self.catalog, at)
            books, slot_events = self._book_all(effects.slots, at)
            events = [*effects.events, *slot_events]
            seqs = self.store.complete_outbox(outbox_id, events)
            self._books.update(books)
            for seq, event in zip(seqs, events, strict=True):
                self._queue.put_nowait(_Queued(event, seq))

    # ----- workers -----------------------------------------------------------------------------
    def _start_job(self, job: RunTask) -> None:
        if job.group_key is not None and job.group_key not in self.worker_groups:
            return  # waits (fallback WAIT) for an engine started with its group: it stays in the file
        if job.job_id not in self._jobs:
            self._jobs[job.job_id] = asyncio.create_task(self._run_job(job), name=job.job_id)

    async def _run_job(self, job: RunTask) -> None:
        try:
            async with self._worker_slots:
                result = await run_attempt(job, emit_log=self._emit_log, storage=self.storage,
                                           workdir_root=self._workdirs, services=self.services)
        except asyncio.CancelledError:
            return  # killed or timed out: the executor has already ended this attempt
        except Exception as exc:
            # Outside the task itself (its logs could not be stored...): the attempt still ends.
            log.exception("attempt_not_run", execution_id=job.execution_id, taskrun_id=job.taskrun_id)
            result = attempt_failed(job, f"the worker failed around this attempt: {type(exc).__name__}: {exc}")
        finally:
            self._jobs.pop(job.job_id, None)
        # Written with its fold; until then the job stays in the file, to run again after a crash.
        self._queue.put_nowait(_Queued(result))

    def _emit_log(self, entry: LogEntry) -> None:
        """Lines are written by the executor's next transaction (one for many lines and events under load)."""
        if not self._pending_logs:
            self._queue.put_nowait(None)  # wakes the executor if idle
        self._pending_logs.append(entry)

    def _write_pending_logs(self) -> None:
        logs, self._pending_logs = self._pending_logs, []
        if logs:
            try:
                self.store.add_logs(logs)
            except BaseException:
                self._pending_logs[:0] = logs
                raise
            notify(self._log_listeners, logs)

    # ----- timers ------------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        while True:
            if not self._timers:
                await self._timer_wakeup.wait()
                self._timer_wakeup.clear()
                continue
            fire_at, timer_id, timer = self._timers[0]
            delay = (fire_at - _now()).total_seconds()
            if delay > 0:
                await wait_set(self._timer_wakeup, delay)
                self._timer_wakeup.clear()
                continue
            heapq.heappop(self._timers)
            if timer_id in self._cancelled_timers:
                self._cancelled_timers.discard(timer_id)
                continue
            event = TimerFired(event_id=derive_id("timer", timer_id), execution_id=timer.execution_id, at=_now(),
                               timer_id=timer_id, purpose=timer.purpose, taskrun_id=timer.taskrun_id,
                               attempt=timer.attempt)
            seq = self.store.fire_timer(timer_id, event)
            if seq is not None:
                self._queue.put_nowait(_Queued(event, seq))


@dataclass(frozen=True)
class _Queued:
    event: Event
    seq: int | None = None  # its row in the event log; None: it is written with its fold
    applied: asyncio.Future[None] | None = None  # set once its fold is written and carried out


@dataclass(frozen=True)
class _Written:
    queued: _Queued
    decision: Decision
    effects: Effects
    books: dict[str, SlotBook]
    events: list[Event]  # to the event log: the plan's, then the slot books' answers
    seqs: list[int] = field(default_factory=list)  # theirs, once written

    @property
    def fold(self) -> Fold:
        event = self.decision.event
        done_job = f"{event.taskrun_id}:{event.attempt}" if isinstance(event, TaskResult) else None
        return Fold(self.queued.seq, event, self.decision.state, self.decision.changed, self.effects, done_job,
                    self.events)


class _SqliteOutbox:
    """One event's decision into the SQLite file, in one transaction with the event, applied."""

    def __init__(self, engine: EmbeddedEngine, queued: _Queued) -> None:
        self._engine = engine
        self._queued = queued

    def prepare(self, decision: Decision) -> _Written:
        engine = self._engine
        effects = with_worker_groups(plan_effects(decision.event.event_id, decision.state, decision.commands,
                                                  decision.flow, engine.catalog, decision.at),
                                     engine.worker_groups, decision.at)
        books, slot_events = engine._book_all(effects.slots, decision.at)
        return _Written(self._queued, decision, effects, books, [*effects.events, *slot_events])

    async def write(self, prepared: _Written) -> None:
        await self._engine._write([prepared])


class _EngineHistory:
    """The history of executions in the engine's SQLite file, used on its loop as every store call is."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self._engine = engine

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        return self._engine.store.count_executions(query)

    async def ended_executions(self, purge: ExecutionPurge) -> list[Execution]:
        return self._engine.store.ended_executions(purge.namespace)

    async def delete_logs(self, purge: LogPurge) -> int:
        return self._engine.purge_logs(purge)

    async def delete_execution(self, execution_id: str) -> None:
        await self._engine.delete_execution(execution_id)
