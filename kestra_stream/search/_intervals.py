"""The intervals a histogram of executions counts in, chosen from the time range as Kestra does.

Pure calendar arithmetic in UTC: the interval for a range, where an interval starts, and the
range's intervals with the empty ones filled in (repositories answer only intervals that hold an
execution). Weeks start on Monday, as Elasticsearch's calendar week does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from kestra_stream.search._models import HistogramBucket, as_utc


class Interval(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def interval_for(start: datetime, end: datetime) -> Interval:
    """Kestra's choice: months past a year, weeks past half a year, days past a day, hours past 6 hours."""
    span = end - start
    if span.days > 365:
        return Interval.MONTH
    if span.days > 180:
        return Interval.WEEK
    if span.days > 1:
        return Interval.DAY
    if span.total_seconds() // 3600 > 6:
        return Interval.HOUR
    return Interval.MINUTE


def interval_start(value: datetime, interval: Interval) -> datetime:
    """The start of the interval holding ``value`` (UTC)."""
    moment = as_utc(value).replace(second=0, microsecond=0)
    if interval is Interval.MINUTE:
        return moment
    moment = moment.replace(minute=0)
    if interval is Interval.HOUR:
        return moment
    moment = moment.replace(hour=0)
    if interval is Interval.DAY:
        return moment
    if interval is Interval.WEEK:
        return moment - timedelta(days=moment.weekday())
    return moment.replace(day=1)


def next_interval(start: datetime, interval: Interval) -> datetime:
    """The start of the interval after the one starting at ``start``."""
    if interval is Interval.MONTH:
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    step = {Interval.MINUTE: timedelta(minutes=1), Interval.HOUR: timedelta(hours=1), Interval.DAY: timedelta(days=1),
            Interval.WEEK: timedelta(weeks=1)}[interval]
    return start + step


def intervals(start: datetime, end: datetime, interval: Interval) -> Iterator[datetime]:
    """The starts of every interval from the one holding ``start`` to the one holding ``end``, both included."""
    current, last = interval_start(start, interval), interval_start(end, interval)
    while current <= last:
        yield current
        current = next_interval(current, interval)


def fill(buckets: Sequence[HistogramBucket], start: datetime, end: datetime,
         interval: Interval) -> list[HistogramBucket]:
    """One bucket per interval of the range, in order: the ones given, an empty one for each other."""
    found = {as_utc(b.start): b for b in buckets}
    return [found.get(moment) or HistogramBucket(start=moment) for moment in intervals(start, end, interval)]
