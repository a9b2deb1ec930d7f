"""The scheduler component: fires Schedule, ScheduleOnDates and polling triggers of the latest flows.

Each tick reads every flow's triggers and each one's state, fires what is due through
``emit_execution`` with the date as key, and writes the state only once the execution exists.
A crash between the two fires the date again at restart: its derived execution id makes that the
same execution. Polling triggers run in tasks of their own, one at a time per trigger, so a long
poll never holds back a schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from kestra_stream.backend import Backend, LatestFlows
from kestra_stream.errors import BackendError, KestraStreamError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType
from kestra_stream.models.task import PollingTrigger, Trigger
from kestra_stream.scheduler._plan import (
    DateTrigger,
    backfill_dates,
    date_trigger,
    date_variables,
    due_dates,
    firing_key,
    first_cursor,
    is_scheduled,
    next_cursor,
    recovered_cursor,
)
from kestra_stream.scheduler._state import TriggerStore, bumped, empty_record, set_disabled
from kestra_stream.search import TriggerBackfill, TriggerRecord
from kestra_stream.storage import Storage
from kestra_stream.triggers import (
    UNGROUPED,
    BackendTriggerContext,
    TriggerLine,
    conditions_hold,
    emit_execution,
    render_with_trigger,
    trigger_labels,
    trigger_uid,
)
from kestra_stream.waiting import wait_set

log = structlog.get_logger(__name__)

BACKFILL_LABEL = "system.backfill"
# A polling evaluation still marked running after this long was left by a scheduler that stopped.
STALE_EVALUATION = timedelta(hours=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _everything(_uid: str) -> bool:
    return True


class Scheduler:
    """Fires the scheduled triggers of ``flows`` on ``backend``, keeping their state in ``store``.

    ``owns`` says which triggers this instance fires (all of them unless several schedulers share
    the work); ``groups`` the workerGroup keys whose polling triggers it evaluates (None: the triggers
    of no group, which every date trigger is); ``now`` is the clock (tests pass a fake one and call
    ``tick``).
    """

    def __init__(self, backend: Backend, flows: LatestFlows, store: TriggerStore, *, storage: Storage,
                 now: Callable[[], datetime] = _utcnow, tick_seconds: float = 1.0, default_timezone: str = "UTC",
                 owns: Callable[[str], bool] = _everything, batch: int = 50,
                 groups: frozenset[str | None] = UNGROUPED) -> None:
        self.backend = backend
        self.flows = flows
        self.store = store
        self._storage = storage
        self._now = now
        self._tick_seconds = tick_seconds
        self._default_timezone = default_timezone
        self._owns = owns
        self._groups = groups
        self._batch = batch
        self._seen: set[str] = set()
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopped_after: asyncio.Queue[tuple[str, str, str, StateType]] = asyncio.Queue()
        self._stop_task: asyncio.Task[None] | None = None
        self._running = False
        self._subscribed = False
        self._wake = asyncio.Event()

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._running = True
        if not self._subscribed:
            loop = asyncio.get_running_loop()
            self.backend.subscribe(lambda state: self._on_state(loop, state))
            self._subscribed = True
        self._stop_task = asyncio.create_task(self._stop_after_loop(), name="scheduler-stop-after")
        self._loop_task = asyncio.create_task(self._run(), name="scheduler")
        log.info("scheduler_started", tick_seconds=self._tick_seconds)

    async def stop(self) -> None:
        self._running = False
        tasks = [t for t in (self._loop_task, self._stop_task, *self._polls.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._polls.clear()

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def forget(self) -> None:
        """Treat every trigger as seen for the first time (after taking over triggers of another
        scheduler): missed dates are recovered again by ``recoverMissedSchedules``."""
        self._seen.clear()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            earliest: datetime | None = None
            try:
                earliest = await self.tick()
            except KestraStreamError as exc:
                log.error("scheduler_tick_failed", error=str(exc))
            except Exception:  # a bug in one tick must not stop the schedules for good
                log.exception("scheduler_tick_crashed")
            delay = self._tick_seconds
            if earliest is not None:
                delay = min(delay, max(0.0, (earliest - self._now()).total_seconds()))
            self._wake.clear()
            await wait_set(self._wake, delay)

    # ----- one pass ------------------------------------------------------------------------------
    async def tick(self) -> datetime | None:
        """Fire every due date of every owned trigger; return the earliest date still to come."""
        now = self._now()
        earliest: datetime | None = None
        for flow in self.flows.all_latest():
            if flow.disabled:
                continue
            for trigger in flow.triggers or ():
                uid = trigger_uid(flow, trigger)
                if trigger.disabled or not is_scheduled(trigger) or not self._serves(trigger, uid):
                    continue
                record = self.store.get(uid)
                if record is not None and record.disabled:
                    # Enabled again, it is seen anew: its missed dates are recovered by its policy, as
                    # Kestra does when a Schedule is enabled back (recoverMissedSchedules).
                    self._seen.discard(uid)
                    continue
                try:
                    upcoming = await self._evaluate(flow, trigger, uid, record, now)
                except BackendError as exc:  # the broker or the database: the same dates again next tick
                    log.warning("trigger_evaluation_failed", uid=uid, error=str(exc))
                    continue
                except KestraStreamError as exc:
                    log.error("trigger_invalid", uid=uid, error=str(exc))
                    continue
                if upcoming is not None and (earliest is None or upcoming < earliest):
                    earliest = upcoming
        return earliest

    def _serves(self, trigger: Trigger, uid: str) -> bool:
        return trigger.group_key in self._groups and self._owns(uid)

    async def _evaluate(self, flow: Flow, trigger: Trigger, uid: str, record: TriggerRecord | None,
                        now: datetime) -> datetime | None:
        if isinstance(trigger, PollingTrigger):
            return await self._poll(flow, trigger, uid, record, now)
        spec = date_trigger(trigger, default_timezone=self._default_timezone,
                            render=lambda value: render_with_trigger(value, flow, {}, now))
        if spec is None:
            return None
        cursor = await self._cursor(spec, uid, record, now)
        for due in due_dates(spec, cursor, now, self._batch):
            cursor = await self._fire(flow, trigger, spec, uid, due.date, late=due.late)
        latest = self.store.get(uid)
        if latest is not None and latest.backfill is not None and not latest.backfill.paused:
            await self._backfill(flow, trigger, spec, uid, latest.backfill, now)
        return cursor

    async def _cursor(self, spec: DateTrigger, uid: str, record: TriggerRecord | None,
                      now: datetime) -> datetime | None:
        """The first date not handled yet: a new trigger starts at ``now``; a trigger first seen by this
        scheduler recovers its missed dates by its policy; a cursor that is no date of a changed
        schedule moves to the schedule's next date."""
        if record is None or (record.next_execution_date is None and record.date is None):
            cursor = first_cursor(spec, now)
            self._seen.add(uid)
            await self._write(uid, next_execution_date=cursor)
            return cursor
        cursor = record.next_execution_date
        if cursor is None and record.date is not None:
            cursor = next_cursor(spec, record.date)
        if cursor is not None and cursor > now and spec.timeline.at_or_after(cursor) != cursor:
            cursor = first_cursor(spec, now)
        if uid not in self._seen:
            self._seen.add(uid)
            cursor = recovered_cursor(spec, cursor, now)
        if cursor != record.next_execution_date:
            await self._write(uid, next_execution_date=cursor)
        return cursor

    async def _fire(self, flow: Flow, trigger: Trigger, spec: DateTrigger, uid: str, moment: datetime, *,
                    late: bool) -> datetime | None:
        """Fire (or skip) one date and move the cursor past it; return the new cursor."""
        following = next_cursor(spec, moment)
        variables = date_variables(spec, moment)
        execution_id = None
        if late:
            log.warning("schedule_date_late", uid=uid, date=variables["date"])
        elif self._allowed(flow, trigger, uid, variables, moment):
            execution_id = await self._emit(flow, trigger, uid, variables, key=firing_key(moment), at=moment,
                                            schedule_date=moment)
        changes: dict[str, Any] = {"next_execution_date": following, "date": moment}
        if execution_id is not None:
            changes["execution_id"] = execution_id
        await self._write(uid, **changes)
        return following

    async def _backfill(self, flow: Flow, trigger: Trigger, spec: DateTrigger, uid: str, backfill: TriggerBackfill,
                        now: datetime) -> None:
        dates = backfill_dates(spec, backfill.current_date, backfill.end, now, self._batch)
        labels = {**trigger_labels(trigger), **backfill.labels, BACKFILL_LABEL: "true"}
        with_labels = trigger.model_copy(update={"labels": labels})
        inputs = {**(getattr(trigger, "inputs", None) or {}), **(backfill.inputs or {})}
        for moment in dates:
            variables = date_variables(spec, moment)
            if self._allowed(flow, trigger, uid, variables, moment):
                key = f"backfill/{firing_key(backfill.created)}/{firing_key(moment)}"
                await self._emit(flow, with_labels, uid, variables, key=key, at=moment, inputs=inputs or None,
                                 schedule_date=moment)
            if not await self._advance_backfill(uid, backfill.created, spec, moment):
                return
        if not dates:
            pending = spec.timeline.at_or_after(backfill.current_date)
            if pending is None or pending > backfill.end:
                await self._advance_backfill(uid, backfill.created, spec, None)

    async def _advance_backfill(self, uid: str, created: datetime, spec: DateTrigger, done: datetime | None) -> bool:
        """Move a backfill past ``done`` (or end it when None); False once it ended, was deleted or paused."""
        latest = self.store.get(uid) or empty_record(uid)
        backfill = latest.backfill
        if backfill is None or backfill.created != created:
            return False
        following = next_cursor(spec, done) if done is not None else None
        if following is None or following > backfill.end:
            await self.store.put(bumped(latest, self._now(), backfill=None))
            log.info("backfill_ended", uid=uid)
            return False
        moved = backfill.model_copy(update={"current_date": following})
        await self.store.put(bumped(latest, self._now(), backfill=moved))
        return not backfill.paused

    def _allowed(self, flow: Flow, trigger: Trigger, uid: str, variables: dict[str, Any], moment: datetime) -> bool:
        try:
            allowed = conditions_hold(flow, trigger, variables, moment)
        except KestraStreamError as exc:
            log.error("trigger_conditions_failed", uid=uid, date=variables.get("date"), error=str(exc))
            return False
        if not allowed:
            log.debug("trigger_conditions_not_met", uid=uid, date=variables.get("date"))
        return allowed

    async def _emit(self, flow: Flow, trigger: Trigger, uid: str, variables: Mapping[str, Any], *, key: str,
                    at: datetime, inputs: Mapping[str, Any] | None = None,
                    schedule_date: datetime | None = None, lines: Sequence[TriggerLine] = ()) -> str | None:
        try:
            execution_id = await emit_execution(self.backend, flow, trigger, variables, key=key, at=at, inputs=inputs,
                                                schedule_date=schedule_date, storage=self._storage, lines=lines)
        except BackendError:
            raise
        except KestraStreamError as exc:  # invalid inputs or labels: this date can never start
            log.error("trigger_emit_refused", uid=uid, key=key, error=str(exc))
            return None
        log.info("trigger_fired", uid=uid, key=key, execution_id=execution_id)
        return execution_id

    async def _write(self, uid: str, **changes: Any) -> TriggerRecord:
        """Apply ``changes`` to the latest state (an API request may have changed it meanwhile)."""
        latest = self.store.get(uid) or empty_record(uid)
        return await self.store.put(bumped(latest, self._now(), **changes))

    # ----- polling triggers ----------------------------------------------------------------------
    async def _poll(self, flow: Flow, trigger: PollingTrigger, uid: str, record: TriggerRecord | None,
                    now: datetime) -> datetime | None:
        cursor = record.next_execution_date if record is not None else None
        running = self._polls.get(uid)
        if running is not None and not running.done():
            return None
        if cursor is not None and cursor > now:
            return cursor
        locked = record.evaluate_running_date if record is not None else None
        if locked is not None and now - locked < STALE_EVALUATION:
            log.warning("trigger_evaluation_locked", uid=uid, since=locked.isoformat(),
                        fix="unlock the trigger if no scheduler is evaluating it")
            return None
        key = firing_key(cursor or now)
        await self._write(uid, evaluate_running_date=now)
        self._polls[uid] = asyncio.create_task(self._run_poll(flow, trigger, uid, key), name=f"poll {uid}")
        return None

    async def _run_poll(self, flow: Flow, trigger: PollingTrigger, uid: str, key: str) -> None:
        execution_id = None
        try:
            ctx = BackendTriggerContext(self.backend, flow, trigger, self._storage)
            variables = await trigger.evaluate(ctx)
            if variables is not None:
                execution_id = await self._emit(flow, trigger, uid, variables, key=key, at=self._now(),
                                                lines=ctx.logged())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing source: try again next interval
            log.error("trigger_poll_failed", uid=uid, error=str(exc), error_type=type(exc).__name__)
        finished = self._now()
        changes: dict[str, Any] = {"evaluate_running_date": None, "next_execution_date": finished + trigger.interval}
        if execution_id is not None:
            changes.update(date=finished, execution_id=execution_id)
        try:
            await self._write(uid, **changes)
        except BackendError as exc:
            log.warning("trigger_state_not_written", uid=uid, error=str(exc))
        self._wake.set()

    # ----- stopAfter -----------------------------------------------------------------------------
    def _on_state(self, loop: asyncio.AbstractEventLoop, state: ExecutionState) -> None:
        execution = state.execution
        current = execution.state.current
        if not self._running or not current.is_terminated or not execution.trigger:
            return
        trigger_id = str(execution.trigger.get("id", ""))
        item = (execution.namespace, execution.flow_id, trigger_id, current)
        with contextlib.suppress(RuntimeError):  # the loop closed: the scheduler is gone
            loop.call_soon_threadsafe(self._stopped_after.put_nowait, item)

    async def _stop_after_loop(self) -> None:
        while True:
            namespace, flow_id, trigger_id, state = await self._stopped_after.get()
            flow = next((f for f in self.flows.all_latest() if f.namespace == namespace and f.id == flow_id), None)
            trigger = flow.find_trigger(trigger_id) if flow is not None else None
            if flow is None or trigger is None or not trigger.stop_after or state not in trigger.stop_after:
                continue
            uid = trigger_uid(flow, trigger)
            if not is_scheduled(trigger) or not self._serves(trigger, uid):
                continue
            try:
                await set_disabled(self.store, uid, True, now=self._now())
            except BackendError as exc:
                log.warning("trigger_stop_after_failed", uid=uid, error=str(exc))
                continue
            log.info("trigger_stopped_after", uid=uid, state=state.value)
