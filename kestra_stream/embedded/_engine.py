"""The embedded backend: one process, the event log and states in SQLite, an asyncio worker pool.

The engine only moves events in and commands out of ``fold``. An event is durable (a row in
``events``) before it is folded; what the fold decides is durable before it is carried out.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from kestra_stream.embedded._catalog import FlowCatalog
from kestra_stream.embedded._flows import EmbeddedFlows
from kestra_stream.embedded._store import Store
from kestra_stream.executor._requests import AcceptsRequests, ExecutionRequests
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
from kestra_stream.executor.effects import child_creation, log_entry, parent_notification
from kestra_stream.executor.events import (
    Event,
    ExecutionCreated,
    ExecutionReplayed,
    KillRequested,
    RestartRequested,
    TaskResult,
    TimerFired,
)
from kestra_stream.executor.fold import ExecutionState, fold
from kestra_stream.executor.slots import SlotBook, SlotRequest, apply_request, slot_key
from kestra_stream.flows import PluginDefault
from kestra_stream.ids import derive_id
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.plugins import PluginRegistry
from kestra_stream.storage import LocalStorage, Storage
from kestra_stream.worker import run_attempt

log = structlog.get_logger(__name__)

StateListener = Callable[[ExecutionState], None]
LogListener = Callable[[list[LogEntry]], None]
ENV_PREFIX = "ENV_"


def envs_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``{{ envs.x }}``: environment variables ``ENV_X``, named in lower case as Kestra does."""
    return {k[len(ENV_PREFIX):].lower(): v for k, v in environ.items() if k.startswith(ENV_PREFIX)}


def _now() -> datetime:
    return datetime.now(UTC)


class EmbeddedEngine(AcceptsRequests):
    def __init__(self, home: Path, *, registry: PluginRegistry | None = None, worker_concurrency: int = 16,
                 globals_: Mapping[str, Any] | None = None, global_defaults: Sequence[PluginDefault] = (),
                 environ: Mapping[str, str] | None = None, storage: Storage | None = None) -> None:
        self.home = home
        self.registry = registry
        self.global_defaults = list(global_defaults)
        self.globals = dict(globals_ or {})
        self.envs = envs_from_environment(os.environ if environ is None else environ)
        self.store = Store(home / "kestra-stream.db")
        self.storage = storage or LocalStorage(home / "storage")
        self.catalog = FlowCatalog()
        self.flows = EmbeddedFlows(self.store, self.catalog, registry=registry, global_defaults=self.global_defaults)
        self._workdirs = home / "work"
        self._queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        self._states: dict[str, ExecutionState] = {}
        self._waiters: dict[str, list[asyncio.Future[Execution]]] = {}
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._worker_slots = asyncio.Semaphore(worker_concurrency)
        self._timers: list[tuple[datetime, str, ScheduleTimer]] = []
        self._timer_wakeup = asyncio.Event()
        self._books: dict[str, SlotBook] = {}
        self._listeners: list[StateListener] = []
        self._log_listeners: list[LogListener] = []
        self._loops: list[asyncio.Task[None]] = []
        self._applied: dict[int, asyncio.Future[None]] = {}
        self._cancelled_timers: set[str] = set()
        self.requests = ExecutionRequests(self.submit, self.catalog, self.state, storage=self.storage,
                                          envs=self.envs, globals_=self.globals)

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.flows.load()
        for execution_id in self.store.unfinished_executions():  # oldest first
            state = self.store.load_state(execution_id)
            if state is not None:
                self._states[execution_id] = state
                self._rebook(state)
        for seq, event in self.store.pending_events():
            self._queue.put_nowait((seq, event))
        for timer in self.store.timers():
            heapq.heappush(self._timers, (timer.fire_at, timer.timer_id, timer))
        self._loops = [asyncio.create_task(self._executor_loop(), name="executor"),
                       asyncio.create_task(self._timer_loop(), name="timers")]
        # Jobs and commands decided before a crash are carried out again; both are idempotent.
        for body in self.store.jobs():
            self._start_job(RunTask.model_validate_json(body))
        for outbox_id, command in self.store.outbox():
            await self._carry_out(outbox_id, command)
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
        for applied in self._applied.values():
            applied.cancel()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        for task in [*self._loops, *self._jobs.values()]:
            task.cancel()
        for task in [*self._loops, *self._jobs.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.store.close()

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
        """Append a request to the event log and return once the executor has applied it."""
        seq = self.store.append_event(event)
        applied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._applied[seq] = applied
        self._queue.put_nowait((seq, event))
        await applied

    def _enqueue(self, event: Event) -> None:
        self._queue.put_nowait((self.store.append_event(event), event))

    # ----- reading -----------------------------------------------------------------------------
    def state(self, execution_id: str) -> ExecutionState | None:
        return self._states.get(execution_id) or self.store.load_state(execution_id)

    def logs(self, execution_id: str) -> list[LogEntry]:
        return self.store.logs(execution_id)

    def subscribe(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def subscribe_logs(self, listener: LogListener) -> None:
        """Called with the log lines of tasks and of the executor, once they are stored."""
        self._log_listeners.append(listener)

    async def delete_execution(self, execution_id: str) -> bool:
        """Forget an execution: its state, events and logs leave the SQLite file (the API deletes ended ones)."""
        self._states.pop(execution_id, None)
        # On the loop, like every other use of the store's one connection (transactions must not interleave).
        return self.store.delete_execution(execution_id)

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
            seq, event = await self._queue.get()
            try:
                await self._apply(seq, event)
            except Exception:
                log.exception("event_not_applied", execution_id=event.execution_id, seq=seq)
            waiter = self._applied.pop(seq, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _flow_for(self, event: Event, state: ExecutionState | None) -> Flow | None:
        if isinstance(event, ExecutionCreated):
            return self.catalog.get(event.namespace, event.flow_id, event.flow_revision)[0]
        ex = event.source if isinstance(event, ExecutionReplayed) else state.execution if state else None
        if ex is None:
            return None
        return self.catalog.get(ex.namespace, ex.flow_id, ex.flow_revision)[0]

    async def _apply(self, seq: int, event: Event) -> None:
        state = self.state(event.execution_id)
        flow = self._flow_for(event, state)
        commands: list[Command] = []
        new_state = state
        if flow is not None:
            new_state, commands = fold(state, event, flow)
        logs = [log_entry(c, new_state) for c in commands if isinstance(c, EmitLog)]
        done_job = f"{event.taskrun_id}:{event.attempt}" if isinstance(event, TaskResult) else None
        outbox_ids = self.store.apply(seq, new_state, new_state is not state, commands, done_job, logs)
        if new_state is not None:
            if new_state.finished:
                self._states.pop(new_state.execution.id, None)
            else:
                self._states[new_state.execution.id] = new_state
        outbox = iter(outbox_ids)
        for command in commands:
            if isinstance(command, RunTask):
                self._start_job(command)
            elif isinstance(command, KillTask):
                job = self._jobs.get(f"{command.taskrun_id}:{command.attempt}")
                if job is not None:
                    job.cancel()
            elif isinstance(command, ScheduleTimer):
                heapq.heappush(self._timers, (command.fire_at, command.timer_id, command))
                self._cancelled_timers.discard(command.timer_id)
                self._timer_wakeup.set()
            elif isinstance(command, CancelTimer):
                self._cancelled_timers.add(command.timer_id)
            elif not isinstance(command, EmitLog):
                await self._carry_out(next(outbox), command)
        if new_state is not None and new_state is not state:
            for listener in self._listeners:
                listener(new_state)
        if logs:
            for log_listener in self._log_listeners:
                log_listener(logs)

    async def _carry_out(self, outbox_id: int, command: Command) -> None:
        events: list[Event] = []
        at = _now()
        if isinstance(command, StartSubflow):
            events.append(child_creation(command, self.state(command.execution_id), self.catalog, at))
        elif isinstance(command, CreateExecution):
            events.append(command.created)
        elif isinstance(command, KillExecution):
            events.append(KillRequested(event_id=derive_id("kill", outbox_id), execution_id=command.execution_id,
                                        at=at))
        elif isinstance(command, RestartExecution):
            events.append(RestartRequested(event_id=derive_id("restart", outbox_id),
                                           execution_id=command.execution_id, at=at))
        elif isinstance(command, AcquireSlot):
            events.extend(self._book(SlotRequest.acquire(command), at))
        elif isinstance(command, ExecutionEnded):
            events.extend(self._ended(command, at))
        for seq, event in zip(self.store.complete_outbox(outbox_id, events), events, strict=True):
            self._queue.put_nowait((seq, event))

    def _book(self, request: SlotRequest, at: datetime) -> list[Event]:
        """One flow's concurrency slots; this single loop sees every request in order."""
        book, events = apply_request(self._books.get(request.key, SlotBook()), request, at)
        self._books[request.key] = book
        return events

    def _ended(self, command: ExecutionEnded, at: datetime) -> list[Event]:
        execution = command.execution
        for future in self._waiters.pop(execution.id, []):
            if not future.done():
                future.set_result(execution)
        events = parent_notification(command, at)
        key = slot_key(execution.namespace, execution.flow_id)
        if key in self._books:
            events += self._book(SlotRequest.release(execution.id, execution.namespace, execution.flow_id), at)
        return events

    # ----- workers -----------------------------------------------------------------------------
    def _start_job(self, job: RunTask) -> None:
        if job.job_id not in self._jobs:
            self._jobs[job.job_id] = asyncio.create_task(self._run_job(job), name=job.job_id)

    async def _run_job(self, job: RunTask) -> None:
        try:
            async with self._worker_slots:
                result = await run_attempt(job, emit_log=self._emit_log, storage=self.storage,
                                           workdir_root=self._workdirs)
        except asyncio.CancelledError:
            return  # killed or timed out: the executor has already ended this attempt
        finally:
            self._jobs.pop(job.job_id, None)
        self._enqueue(result)

    def _emit_log(self, entry: LogEntry) -> None:
        self.store.add_logs([entry])
        for log_listener in self._log_listeners:
            log_listener([entry])

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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._timer_wakeup.wait(), delay)
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    # Python 3.11's wait_for loses a cancellation that lands as its timeout expires
                    # (the engine stopping then would wait for this loop forever).
                    raise asyncio.CancelledError
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
                self._queue.put_nowait((seq, event))
