"""Pure schedule logic: cron forms and time zones, recovery of missed dates, late dates, date lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import load_flow
from kestra_stream.models.flow import Flow
from kestra_stream.models.task import Trigger
from kestra_stream.scheduler import (
    CronSchedule,
    DateList,
    DateTrigger,
    backfill_dates,
    date_trigger,
    date_variables,
    due_dates,
    firing_key,
    first_cursor,
    is_scheduled,
    partition_of,
    recovered_cursor,
)
from kestra_stream.scheduler._plan import Recover
from kestra_stream.triggers import conditions_hold

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def walk(schedule: CronSchedule, start: datetime, count: int) -> list[str]:
    out: list[str] = []
    moment: datetime | None = start
    for _ in range(count):
        assert moment is not None
        moment = schedule.next_after(moment)
        out.append(moment.isoformat() if moment is not None else "none")
    return out


def spec(cron: str, recover: Recover = "ALL", late: timedelta | None = None, *, seconds: bool = False) -> DateTrigger:
    tz = ZoneInfo("UTC")
    return DateTrigger(timeline=CronSchedule(cron, tz, with_seconds=seconds), recover=recover,
                       late_maximum_delay=late, zone=tz)


def trigger_of(yaml_triggers: str) -> tuple[Trigger, Flow]:
    flow = load_flow(f"""
id: scheduled
namespace: unit.scheduler
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
{yaml_triggers}
""")
    assert flow.triggers is not None
    return flow.triggers[0], flow


# ----- cron forms ---------------------------------------------------------------------------------
def test_five_field_cron_fires_every_quarter_hour_in_utc() -> None:
    schedule = CronSchedule("*/15 * * * *", ZoneInfo("UTC"))
    assert walk(schedule, at("2025-01-01T10:07:00+00:00"), 3) == [
        "2025-01-01T10:15:00+00:00", "2025-01-01T10:30:00+00:00", "2025-01-01T10:45:00+00:00"]


def test_with_seconds_reads_the_first_field_as_seconds() -> None:
    schedule = CronSchedule("*/20 * * * * *", ZoneInfo("UTC"), with_seconds=True)
    assert walk(schedule, at("2025-01-01T10:00:05+00:00"), 3) == [
        "2025-01-01T10:00:20+00:00", "2025-01-01T10:00:40+00:00", "2025-01-01T10:01:00+00:00"]


def test_nickname_daily_is_midnight_in_the_schedule_zone_even_with_seconds() -> None:
    schedule = CronSchedule("@DAILY", PARIS, with_seconds=True)
    assert schedule.next_after(at("2025-06-01T12:00:00+00:00")) == at("2025-06-02T00:00:00+02:00")


def test_hash_one_is_the_first_monday_of_the_month() -> None:
    schedule = CronSchedule("0 11 * * 1#1", PARIS)
    assert walk(schedule, at("2025-01-01T00:00:00+00:00"), 3) == [
        "2025-01-06T11:00:00+01:00", "2025-02-03T11:00:00+01:00", "2025-03-03T11:00:00+01:00"]


def test_a_cron_that_never_matches_has_no_next_date() -> None:
    assert CronSchedule("0 0 30 2 *", ZoneInfo("UTC")).next_after(at("2025-01-01T00:00:00+00:00")) is None


def test_an_invalid_cron_is_a_flow_error_that_shows_a_valid_one() -> None:
    with pytest.raises(FlowValidationError, match=r"\*/15 \* \* \* \*"):
        CronSchedule("61 * * * *", ZoneInfo("UTC"))


def test_previous_before_is_the_date_strictly_before() -> None:
    schedule = CronSchedule("0 * * * *", ZoneInfo("UTC"))
    assert schedule.previous_before(at("2025-01-01T10:00:00+00:00")) == at("2025-01-01T09:00:00+00:00")
    assert schedule.at_or_after(at("2025-01-01T10:00:00+00:00")) == at("2025-01-01T10:00:00+00:00")


# ----- daylight saving time -------------------------------------------------------------------------
def test_a_daily_time_inside_the_spring_gap_moves_forward_by_the_gap_like_java() -> None:
    schedule = CronSchedule("30 2 * * *", PARIS)
    assert walk(schedule, at("2025-03-29T12:00:00+00:00"), 2) == [
        "2025-03-30T03:30:00+02:00", "2025-03-31T02:30:00+02:00"]


def test_an_hourly_schedule_fires_each_real_hour_once_across_the_spring_gap() -> None:
    schedule = CronSchedule("0 * * * *", PARIS)
    assert walk(schedule, at("2025-03-29T23:30:00+00:00"), 3) == [
        "2025-03-30T01:00:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00"]


def test_a_repeated_autumn_wall_time_fires_once_in_summer_time() -> None:
    schedule = CronSchedule("30 2 * * *", PARIS)
    dates = walk(schedule, at("2025-10-25T12:00:00+00:00"), 2)
    assert dates == ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"]


def test_dates_are_strictly_increasing_through_both_changes_of_a_year() -> None:
    schedule = CronSchedule("*/30 * * * *", PARIS)
    moment = at("2025-03-29T00:00:00+00:00")
    seen = []
    for _ in range(2 * 48 * 3):
        nxt = schedule.next_after(moment)
        assert nxt is not None and nxt > moment
        seen.append(nxt)
        moment = nxt
    assert len(set(seen)) == len(seen)


# ----- first evaluation, recovery, late dates -------------------------------------------------------
def test_a_new_trigger_starts_from_now_and_never_backfills() -> None:
    s = spec("0 * * * *")
    assert first_cursor(s, at("2025-01-01T10:20:00+00:00")) == at("2025-01-01T11:00:00+00:00")
    assert first_cursor(s, at("2025-01-01T10:00:00+00:00")) == at("2025-01-01T10:00:00+00:00")


def test_recover_all_keeps_every_missed_date_in_order() -> None:
    s = spec("0 * * * *", "ALL")
    now = at("2025-01-01T13:30:00+00:00")
    cursor = recovered_cursor(s, at("2025-01-01T10:00:00+00:00"), now)
    assert [d.date.hour for d in due_dates(s, cursor, now, limit=10)] == [10, 11, 12, 13]


def test_recover_last_keeps_only_the_latest_missed_date() -> None:
    s = spec("0 * * * *", "LAST")
    now = at("2025-01-01T13:30:00+00:00")
    cursor = recovered_cursor(s, at("2025-01-01T10:00:00+00:00"), now)
    assert [d.date.hour for d in due_dates(s, cursor, now, limit=10)] == [13]


def test_recover_none_skips_every_missed_date() -> None:
    s = spec("0 * * * *", "NONE")
    now = at("2025-01-01T13:30:00+00:00")
    cursor = recovered_cursor(s, at("2025-01-01T10:00:00+00:00"), now)
    assert cursor == at("2025-01-01T14:00:00+00:00")
    assert due_dates(s, cursor, now, limit=10) == []


def test_recovery_leaves_a_cursor_in_the_future_alone() -> None:
    policies: list[Recover] = ["ALL", "LAST", "NONE"]
    for policy in policies:
        s = spec("0 * * * *", policy)
        assert recovered_cursor(s, at("2025-01-01T14:00:00+00:00"), at("2025-01-01T13:30:00+00:00")) == \
            at("2025-01-01T14:00:00+00:00")


def test_due_dates_stop_at_the_limit_so_a_long_downtime_is_caught_up_over_several_ticks() -> None:
    s = spec("* * * * * *", seconds=True)
    due = due_dates(s, at("2025-01-01T00:00:00+00:00"), at("2025-01-01T01:00:00+00:00"), limit=5)
    assert [d.date.second for d in due] == [0, 1, 2, 3, 4]


def test_a_date_older_than_late_maximum_delay_is_due_but_late() -> None:
    s = spec("0 * * * *", late=timedelta(minutes=45))
    due = due_dates(s, at("2025-01-01T10:00:00+00:00"), at("2025-01-01T11:30:00+00:00"), limit=10)
    assert [(d.date.hour, d.late) for d in due] == [(10, True), (11, False)]


def test_backfill_dates_run_in_order_from_start_to_end_and_never_past_now() -> None:
    s = spec("0 0 * * *")
    dates = backfill_dates(s, at("2025-01-01T00:00:00+00:00"), at("2025-01-10T00:00:00+00:00"),
                           at("2025-01-04T12:00:00+00:00"), limit=100)
    assert [d.day for d in dates] == [1, 2, 3, 4]


# ----- trigger models ---------------------------------------------------------------------------------
def test_trigger_variables_are_iso_dates_in_the_trigger_zone() -> None:
    trigger, _flow = trigger_of("""
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    timezone: Europe/Paris
""")
    s = date_trigger(trigger)
    assert s is not None
    assert date_variables(s, at("2025-01-01T10:00:00+00:00")) == {
        "date": "2025-01-01T11:00:00+01:00", "next": "2025-01-01T12:00:00+01:00",
        "previous": "2025-01-01T10:00:00+01:00"}
    assert firing_key(at("2025-01-01T11:00:00+01:00")) == "2025-01-01T10:00:00+00:00"


def test_older_schedule_type_and_recover_policy_are_read_from_the_flow() -> None:
    trigger, _flow = trigger_of("""
  - id: old
    type: io.kestra.core.models.triggers.types.Schedule
    cron: "@hourly"
    recoverMissedSchedules: NONE
    lateMaximumDelay: PT5M
""")
    s = date_trigger(trigger)
    assert is_scheduled(trigger) and s is not None
    assert (s.recover, s.late_maximum_delay) == ("NONE", timedelta(minutes=5))


def test_schedule_on_dates_reads_naive_dates_in_its_zone_sorted_without_repeats() -> None:
    trigger, _flow = trigger_of("""
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    timezone: Europe/Paris
    dates:
      - 2025-12-31T23:00:00
      - 2025-12-24T18:00:00+01:00
      - 2025-12-24T17:00:00Z
""")
    s = date_trigger(trigger)
    assert s is not None and isinstance(s.timeline, DateList)
    assert [d.astimezone(UTC).isoformat() for d in s.timeline.dates] == [
        "2025-12-24T17:00:00+00:00", "2025-12-31T22:00:00+00:00"]
    assert date_variables(s, s.timeline.dates[0])["next"] == "2025-12-31T23:00:00+01:00"


def test_schedule_on_dates_expression_is_rendered_into_dates() -> None:
    trigger, _flow = trigger_of("""
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    dates: "{{ ['2025-01-02T00:00:00Z', '2025-01-01T00:00:00Z'] }}"
""")
    s = date_trigger(trigger, render=lambda value: ["2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z"])
    assert s is not None
    due = due_dates(s, at("2024-12-31T00:00:00+00:00"), at("2025-01-05T00:00:00+00:00"), limit=10)
    assert [d.date.day for d in due] == [1, 2]


def test_a_webhook_is_not_the_schedulers() -> None:
    trigger, _flow = trigger_of("""
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: abc
""")
    assert not is_scheduled(trigger) and date_trigger(trigger) is None


def test_weekend_condition_refuses_a_weekday_and_allows_a_saturday() -> None:
    trigger, flow = trigger_of("""
  - id: weekends
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 10 * * *"
    conditions:
      - type: io.kestra.plugin.core.condition.Weekend
""")
    s = date_trigger(trigger)
    assert s is not None
    friday, saturday = at("2025-01-03T10:00:00+00:00"), at("2025-01-04T10:00:00+00:00")
    assert not conditions_hold(flow, trigger, date_variables(s, friday), friday)
    assert conditions_hold(flow, trigger, date_variables(s, saturday), saturday)


def test_partition_of_spreads_trigger_uids_over_every_partition() -> None:
    partitions = {partition_of(f"ns/flow/t{i}", 4) for i in range(40)}
    assert partitions == {0, 1, 2, 3}
    assert partition_of("ns/flow/t1", 4) == partition_of("ns/flow/t1", 4)
