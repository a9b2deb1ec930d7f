"""Dates of a cron schedule in a time zone: pure (no clock), on croniter.

croniter walks wall-clock times (naive, in the schedule's zone); each wall time becomes an instant
the way Java's ``ZonedDateTime.of`` (hence Kestra) makes it:

- a wall time inside a spring-forward gap is moved forward by the gap's length (02:30 on the day
  Paris skips 02:00-03:00 fires at 03:30 CEST);
- a wall time that happens twice (autumn fall-back) is the first one (summer time).

Dates are strictly increasing instants: a wall time landing on or before the previous date (two
gap times moved onto the same instant) is skipped, so no instant fires twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from kestra_stream.errors import FlowProblem, FlowValidationError

_NICKNAMES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_TICK = timedelta(microseconds=1)
# croniter looks this many years ahead for a match (`0 0 30 2 *` never matches).
_MAX_YEARS = 50
# Longer than any DST change (Lord Howe's is 30 minutes, most are an hour).
_NEAR_CHANGE = timedelta(hours=3)


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The IANA zone ``name`` (or ``default``); an unknown name says what a valid one looks like."""
    wanted = name or default
    try:
        return ZoneInfo(wanted)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FlowValidationError([FlowProblem(f"unknown time zone {wanted!r}: use an IANA name such as "
                                               f"'Europe/Paris' or 'UTC'")]) from exc


def local_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The instant of a naive wall time in ``tz``, moved past a DST gap like Java does."""
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz)


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression (five fields, six with ``with_seconds``, or a nickname) read in ``tz``."""

    cron: str
    tz: ZoneInfo
    with_seconds: bool = False

    def __post_init__(self) -> None:
        text = " ".join(self.cron.split())
        object.__setattr__(self, "cron", text.lower() if text.lower() in _NICKNAMES else text)
        try:
            croniter(self.cron, datetime(2000, 1, 1), **self._options())
        except (CroniterBadCronError, ValueError, KeyError) as exc:
            raise FlowValidationError([FlowProblem(
                f"invalid cron {self.cron!r}: {exc}; a valid one is '*/15 * * * *' or '@daily'")]) from exc

    def _options(self) -> dict[str, object]:
        seconds = self.with_seconds and not self.cron.startswith("@")
        return {"second_at_beginning": True} if seconds else {}

    def _margin(self, moment: datetime, direction: int) -> timedelta:
        """How far from ``moment`` to start walking wall times: near a DST change (rare), far enough
        that a moved or repeated wall time is seen; elsewhere not at all (a per-second cron would
        otherwise walk thousands of dates)."""
        other = moment + direction * _NEAR_CHANGE
        if moment.astimezone(self.tz).utcoffset() != other.astimezone(self.tz).utcoffset():
            return _NEAR_CHANGE
        return timedelta(0)

    def _walls(self, start: datetime, *, backwards: bool) -> Iterator[datetime]:
        wall = start.astimezone(self.tz).replace(tzinfo=None, fold=0)
        it = croniter(self.cron, wall, is_prev=backwards, max_years_between_matches=_MAX_YEARS, **self._options())
        while True:
            try:
                yield it.get_prev(datetime) if backwards else it.get_next(datetime)
            except CroniterBadDateError:
                return

    def next_after(self, moment: datetime) -> datetime | None:
        """The first date strictly after ``moment`` (aware), in the schedule's zone; None if there is none."""
        for wall in self._walls(moment - self._margin(moment, -1), backwards=False):
            instant = local_instant(wall, self.tz)
            if instant > moment:
                return instant
        return None

    def previous_before(self, moment: datetime) -> datetime | None:
        """The last date strictly before ``moment`` (aware); None if there is none."""
        for wall in self._walls(moment + self._margin(moment, 1), backwards=True):
            instant = local_instant(wall, self.tz)
            if instant < moment and self.next_after(instant - _TICK) == instant:
                return instant
        return None

    def at_or_after(self, moment: datetime) -> datetime | None:
        """``moment`` itself when it is a date of the schedule, else the next one."""
        return self.next_after(moment - _TICK)

    def dates_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Up to ``limit`` dates ``d`` with ``start <= d <= end``, in order."""
        out: list[datetime] = []
        current = self.at_or_after(start)
        while current is not None and current <= end and len(out) < limit:
            out.append(current)
            current = self.next_after(current)
        return out
