"""What a schedule fires and when, as pure functions of the trigger, its state and ``now``.

A trigger's state keeps a cursor, ``nextExecutionDate``: the first date not yet handled. A tick
fires every date from the cursor up to ``now`` (a few at a time), each followed by a state write
moving the cursor past it. Three moments differ:

- the first evaluation of a new trigger starts from ``now``: it never backfills the past;
- the first evaluation by a scheduler that (re)started applies ``recoverMissedSchedules`` to the
  dates missed while no scheduler ran: ALL runs them all, LAST the latest one, NONE none;
- a date older than ``lateMaximumDelay`` when its turn comes is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Protocol, cast
from zoneinfo import ZoneInfo

from kestra_stream.errors import FlowProblem, FlowValidationError
from kestra_stream.models.task import PollingTrigger, Trigger
from kestra_stream.scheduler._cron import CronSchedule, local_instant, zone

Recover = Literal["ALL", "LAST", "NONE"]
DEFAULT_RECOVER: Recover = "ALL"
SCHEDULE_TYPE = "io.kestra.plugin.core.trigger.Schedule"
ON_DATES_TYPE = "io.kestra.plugin.core.trigger.ScheduleOnDates"
_TICK = timedelta(microseconds=1)


class Timeline(Protocol):
    """The dates of a trigger: a cron schedule or a list of dates."""

    def next_after(self, moment: datetime) -> datetime | None: ...
    def previous_before(self, moment: datetime) -> datetime | None: ...
    def at_or_after(self, moment: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class DateList:
    """The dates of a ScheduleOnDates, sorted and without repeats."""

    dates: tuple[datetime, ...]

    @classmethod
    def of(cls, dates: Sequence[datetime]) -> DateList:
        return cls(tuple(sorted(set(dates))))

    def next_after(self, moment: datetime) -> datetime | None:
        return next((d for d in self.dates if d > moment), None)

    def previous_before(self, moment: datetime) -> datetime | None:
        return next((d for d in reversed(self.dates) if d < moment), None)

    def at_or_after(self, moment: datetime) -> datetime | None:
        return self.next_after(moment - _TICK)


@dataclass(frozen=True)
class DateTrigger:
    """What the scheduler reads of a Schedule or a ScheduleOnDates: its dates and its catch-up rules."""

    timeline: Timeline
    recover: Recover
    late_maximum_delay: timedelta | None
    zone: ZoneInfo


def canonical_type(trigger: Trigger) -> str:
    info = type(trigger).plugin
    return info.type if info is not None else trigger.type


def is_scheduled(trigger: Trigger) -> bool:
    """Whether the scheduler fires this trigger (a Schedule, a ScheduleOnDates or a polling trigger)."""
    return canonical_type(trigger) in (SCHEDULE_TYPE, ON_DATES_TYPE) or isinstance(trigger, PollingTrigger)


def date_trigger(trigger: Trigger, *, default_timezone: str = "UTC",
                 render: Callable[[Any], Any] | None = None) -> DateTrigger | None:
    """The dates of a Schedule or ScheduleOnDates (``render`` turns a ``dates`` expression into a list);
    None for any other trigger."""
    kind = canonical_type(trigger)
    if kind not in (SCHEDULE_TYPE, ON_DATES_TYPE):
        return None
    tz = zone(cast(str | None, getattr(trigger, "timezone", None)), default_timezone)
    recover = cast(Recover | None, getattr(trigger, "recover_missed_schedules", None)) or DEFAULT_RECOVER
    late = cast(timedelta | None, getattr(trigger, "late_maximum_delay", None))
    timeline: Timeline
    if kind == SCHEDULE_TYPE:
        timeline = CronSchedule(cast(str, getattr(trigger, "cron")), tz,  # noqa: B009
                                with_seconds=bool(getattr(trigger, "with_seconds", False)))
    else:
        raw = getattr(trigger, "dates")  # noqa: B009
        if isinstance(raw, str):
            if render is None:
                raise FlowValidationError([FlowProblem(
                    f"trigger '{trigger.id}': its dates are an expression; it is rendered by the scheduler")])
            raw = render(raw)
        timeline = DateList.of(parse_dates(raw, tz, trigger.id))
    return DateTrigger(timeline=timeline, recover=recover, late_maximum_delay=late, zone=tz)


def parse_dates(raw: Any, tz: ZoneInfo, trigger_id: str) -> list[datetime]:
    """The dates of a ScheduleOnDates: datetimes or ISO texts; a date without an offset is read in ``tz``."""
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise FlowValidationError([FlowProblem(
                f"trigger '{trigger_id}': its dates rendered {raw!r}, not a list of ISO dates")]) from exc
    items = raw if isinstance(raw, list | tuple) else [raw]
    out: list[datetime] = []
    for item in items:
        try:
            if isinstance(item, datetime):
                value = item
            elif isinstance(item, date):
                value = datetime.combine(item, time())
            else:
                value = datetime.fromisoformat(str(item).strip())
        except ValueError as exc:
            raise FlowValidationError([FlowProblem(
                f"trigger '{trigger_id}': {item!r} is not a date; write ISO dates such as "
                f"2025-12-24T18:00:00+01:00")]) from exc
        out.append(local_instant(value, tz) if value.tzinfo is None else value)
    return out


def iso(moment: datetime | None, tz: ZoneInfo | None = None) -> str | None:
    """A date as Kestra shows trigger dates: ISO-8601 with its offset, in the trigger's zone."""
    if moment is None:
        return None
    return (moment.astimezone(tz) if tz is not None else moment).isoformat()


def firing_key(moment: datetime) -> str:
    """What names the firing of one date in its execution's id: the same instant, whatever the zone."""
    return moment.astimezone(ZoneInfo("UTC")).isoformat()


def date_variables(spec: DateTrigger, moment: datetime) -> dict[str, Any]:
    """``trigger.date``, ``trigger.next`` and ``trigger.previous`` of the execution of ``moment``."""
    return {"date": iso(moment, spec.zone), "next": iso(spec.timeline.next_after(moment), spec.zone),
            "previous": iso(spec.timeline.previous_before(moment), spec.zone)}


def first_cursor(spec: DateTrigger, now: datetime) -> datetime | None:
    """Where a trigger never evaluated before starts: at ``now``, never in the past."""
    return spec.timeline.at_or_after(now)


def recovered_cursor(spec: DateTrigger, cursor: datetime | None, now: datetime) -> datetime | None:
    """The cursor after a downtime, by ``recoverMissedSchedules``: every missed date (ALL), the latest
    one (LAST) or none (NONE)."""
    if cursor is None or cursor > now or spec.recover == "ALL":
        return cursor
    if spec.recover == "LAST":
        latest = spec.timeline.previous_before(now + _TICK)
        return latest if latest is not None and latest >= cursor else cursor
    return spec.timeline.next_after(now)


@dataclass(frozen=True)
class Due:
    """A date whose turn came; ``late`` when it is past ``lateMaximumDelay`` (skipped, not fired)."""

    date: datetime
    late: bool = False


def due_dates(spec: DateTrigger, cursor: datetime | None, now: datetime, limit: int) -> list[Due]:
    """Up to ``limit`` dates from ``cursor`` (a date of the trigger or a point before one) to ``now``, in order."""
    out: list[Due] = []
    current = spec.timeline.at_or_after(cursor) if cursor is not None else None
    while current is not None and current <= now and len(out) < limit:
        late = spec.late_maximum_delay is not None and now - current > spec.late_maximum_delay
        out.append(Due(current, late))
        current = spec.timeline.next_after(current)
    return out


def next_cursor(spec: DateTrigger, fired: datetime) -> datetime | None:
    return spec.timeline.next_after(fired)


def backfill_dates(spec: DateTrigger, current: datetime, end: datetime, now: datetime, limit: int) -> list[datetime]:
    """Up to ``limit`` dates of a backfill from ``current`` to ``end`` (never past ``now``), in order."""
    out: list[datetime] = []
    moment = spec.timeline.at_or_after(current)
    while moment is not None and moment <= end and moment <= now and len(out) < limit:
        out.append(moment)
        moment = spec.timeline.next_after(moment)
    return out


