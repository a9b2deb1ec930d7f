"""The precondition state machine: windows, accumulation, firing, reset, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kestra_stream_plugin_core import TimeWindow

from kestra_stream.triggers._preconditions import (
    Met,
    PreconditionState,
    advance,
    expired,
    firing_key,
    window_bounds,
)

T0 = datetime(2025, 3, 3, 10, 30, tzinfo=UTC)
MIDNIGHT = datetime(2025, 3, 3, tzinfo=UTC)
AB = ["a", "b"]


def window(**raw: Any) -> TimeWindow:
    return TimeWindow.model_validate(raw)


def met(execution_id: str, at: datetime = T0, state: str = "SUCCESS") -> Met:
    return Met(execution_id=execution_id, state=state, transition=3, at=at)


def test_default_window_is_the_utc_day() -> None:
    assert window_bounds(TimeWindow(), T0) == (MIDNIGHT, MIDNIGHT + timedelta(days=1))


@pytest.mark.parametrize(("raw", "at", "start_hour"), [
    ({"window": "PT6H"}, T0, 6),
    ({"window": "PT6H", "windowAdvance": "PT3H"}, T0, 9),
    ({"window": "PT6H", "windowAdvance": "PT6H"}, T0 - timedelta(hours=8), 0),  # 02:30 is in 00:00-06:00
    ({"window": "PT10M"}, T0 + timedelta(minutes=7), 10),
])
def test_duration_windows_are_laid_out_from_midnight_shifted_by_window_advance(
        raw: dict[str, Any], at: datetime, start_hour: int) -> None:
    bounds = window_bounds(window(**raw), at)
    assert bounds is not None
    start, end = bounds
    assert start <= at < end
    assert end - start == TimeWindow.model_validate(raw).window
    assert start.hour == start_hour


def test_daily_time_window_is_open_between_start_and_end_only() -> None:
    daily = window(type="DAILY_TIME_WINDOW", startTime="09:00:00", endTime="11:00:00")
    assert window_bounds(daily, T0) == (MIDNIGHT + timedelta(hours=9), MIDNIGHT + timedelta(hours=11))
    assert window_bounds(daily, T0 + timedelta(hours=1)) is None
    assert window_bounds(daily, T0 - timedelta(hours=2)) is None


def test_daily_time_window_may_span_midnight() -> None:
    night = window(type="DAILY_TIME_WINDOW", startTime="22:00:00", endTime="02:00:00")
    assert window_bounds(night, MIDNIGHT + timedelta(hours=1)) == (MIDNIGHT - timedelta(hours=2),
                                                                   MIDNIGHT + timedelta(hours=2))
    assert window_bounds(night, MIDNIGHT + timedelta(hours=23)) == (MIDNIGHT + timedelta(hours=22),
                                                                    MIDNIGHT + timedelta(hours=26))
    assert window_bounds(night, T0) is None


def test_daily_deadline_window_runs_from_midnight_to_the_deadline() -> None:
    deadline = window(type="DAILY_TIME_DEADLINE", deadline="11:00:00")
    assert window_bounds(deadline, T0) == (MIDNIGHT, MIDNIGHT + timedelta(hours=11))
    assert window_bounds(deadline, T0 + timedelta(hours=1)) is None


def test_fires_once_every_condition_was_met_in_the_window_then_resets() -> None:
    state, fired = advance(TimeWindow(), AB, True, None, {"a": met("x")}, T0)
    assert fired is None and state is not None and set(state.results) == {"a"}
    state, fired = advance(TimeWindow(), AB, True, state, {"b": met("y")}, T0 + timedelta(hours=1))
    assert fired is not None and [m.execution_id for m in fired] == ["x", "y"]
    assert state is None
    state, fired = advance(TimeWindow(), AB, True, state, {"b": met("z")}, T0 + timedelta(hours=2))
    assert fired is None and state is not None and set(state.results) == {"b"}


def test_a_condition_met_in_an_earlier_window_is_forgotten() -> None:
    state, _ = advance(TimeWindow(), AB, True, None, {"a": met("x")}, T0)
    state, fired = advance(TimeWindow(), AB, True, state, {"b": met("y")}, T0 + timedelta(days=1))
    assert fired is None
    assert state is not None and set(state.results) == {"b"}


def test_without_reset_each_later_match_fires_again() -> None:
    state, _ = advance(TimeWindow(), AB, False, None, {"a": met("x")}, T0)
    state, fired = advance(TimeWindow(), AB, False, state, {"b": met("y")}, T0)
    assert fired is not None
    state, fired = advance(TimeWindow(), AB, False, state, {"a": met("x2")}, T0)
    assert fired is not None and [m.execution_id for m in fired] == ["x2", "y"]
    assert state is not None


def test_an_event_meeting_no_condition_changes_nothing_and_never_fires() -> None:
    state, _ = advance(TimeWindow(), AB, False, None, {"a": met("x")}, T0)
    state, _ = advance(TimeWindow(), AB, False, state, {"b": met("y")}, T0)
    again, fired = advance(TimeWindow(), AB, False, state, {}, T0)
    assert fired is None and again == state


def test_events_outside_a_daily_window_are_ignored() -> None:
    daily = window(type="DAILY_TIME_WINDOW", startTime="09:00:00", endTime="11:00:00")
    state, fired = advance(daily, ["a"], True, None, {"a": met("x")}, T0 + timedelta(hours=2))
    assert state is None and fired is None


def test_sliding_window_counts_only_matches_within_the_last_window() -> None:
    sliding = window(type="SLIDING_WINDOW", window="PT1H")
    state, _ = advance(sliding, AB, True, None, {"a": met("x", T0)}, T0)
    later = T0 + timedelta(minutes=61)
    state, fired = advance(sliding, AB, True, state, {"b": met("y", later)}, later)
    assert fired is None and state is not None and set(state.results) == {"b"}
    soon = later + timedelta(minutes=30)
    _, fired = advance(sliding, AB, True, state, {"a": met("x2", soon)}, soon)
    assert fired is not None


def test_expired_states_are_those_whose_window_closed() -> None:
    state = PreconditionState(start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), results={"a": met("x")})
    assert not expired(state, TimeWindow(), T0)
    assert expired(state, TimeWindow(), MIDNIGHT + timedelta(days=1))
    sliding = window(type="SLIDING_WINDOW", window="PT1H")
    assert not expired(state, sliding, T0 + timedelta(minutes=59))
    assert expired(state, sliding, T0 + timedelta(minutes=61))


def test_firing_key_names_the_contributing_state_changes_in_any_order() -> None:
    assert firing_key([met("x"), met("y")]) == firing_key([met("y"), met("x")]) == "x:SUCCESS:3+y:SUCCESS:3"
    assert firing_key([met("x")]) != firing_key([met("x", state="FAILED")])


def test_state_round_trips_through_json() -> None:
    state, _ = advance(TimeWindow(), AB, True, None, {"a": met("x")}, T0)
    assert state is not None
    assert PreconditionState.model_validate_json(state.model_dump_json()) == state
