"""The histogram's intervals: Kestra's choice from the range, their starts in UTC, the empty ones filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kestra_stream.models.state import StateType
from kestra_stream.search import HistogramBucket, Interval, fill, interval_for
from kestra_stream.search._intervals import interval_start, intervals, next_interval

T = datetime(2026, 3, 4, 15, 37, 12, 345000, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(("span", "interval"), [
    (timedelta(hours=6, minutes=59), Interval.MINUTE),
    (timedelta(hours=7), Interval.HOUR),
    (timedelta(days=1, hours=23), Interval.HOUR),
    (timedelta(days=2), Interval.DAY),
    (timedelta(days=30), Interval.DAY),
    (timedelta(days=180, hours=23), Interval.DAY),
    (timedelta(days=181), Interval.WEEK),
    (timedelta(days=365, hours=23), Interval.WEEK),
    (timedelta(days=366), Interval.MONTH),
])
def test_the_interval_follows_the_length_of_the_range_as_kestra_chooses(span: timedelta, interval: Interval) -> None:
    assert interval_for(T, T + span) is interval


@pytest.mark.parametrize(("interval", "start"), [
    (Interval.MINUTE, datetime(2026, 3, 4, 15, 37, tzinfo=UTC)),
    (Interval.HOUR, datetime(2026, 3, 4, 15, tzinfo=UTC)),
    (Interval.DAY, datetime(2026, 3, 4, tzinfo=UTC)),
    (Interval.WEEK, datetime(2026, 3, 2, tzinfo=UTC)),
    (Interval.MONTH, datetime(2026, 3, 1, tzinfo=UTC)),
])
def test_an_interval_starts_on_its_minute_hour_day_monday_or_first_of_month(interval: Interval,
                                                                            start: datetime) -> None:
    assert interval_start(T, interval) == start


def test_interval_starts_are_in_utc_whatever_the_offset_given() -> None:
    late_evening_in_new_york = datetime(2026, 3, 4, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert interval_start(late_evening_in_new_york, Interval.DAY) == datetime(2026, 3, 5, tzinfo=UTC)


def test_months_step_over_the_end_of_the_year() -> None:
    assert next_interval(datetime(2026, 12, 1, tzinfo=UTC), Interval.MONTH) == datetime(2027, 1, 1, tzinfo=UTC)
    assert list(intervals(datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 2, 3, tzinfo=UTC), Interval.MONTH)) == [
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 2, 1, tzinfo=UTC)]


def test_the_range_covers_the_intervals_of_both_ends() -> None:
    days = list(intervals(T, T + timedelta(days=2), Interval.DAY))
    assert days == [datetime(2026, 3, d, tzinfo=UTC) for d in (4, 5, 6)]


def test_fill_keeps_the_buckets_found_and_adds_empty_ones_in_order() -> None:
    found = HistogramBucket(start=datetime(2026, 3, 5, tzinfo=UTC), counts={StateType.SUCCESS: 3}, ended=3,
                            duration_min=1.0, duration_max=2.0, duration_sum=4.0)
    filled = fill([found], T, T + timedelta(days=2), Interval.DAY)
    assert [b.start.day for b in filled] == [4, 5, 6]
    assert filled[1] is found
    assert (filled[0].counts, filled[0].ended, filled[0].duration_min) == ({}, 0, None)
