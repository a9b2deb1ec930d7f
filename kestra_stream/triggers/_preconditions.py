"""Preconditions of a Flow trigger: which upstream conditions were met within the current time window.

A pure state machine, ``advance(state, met, at) -> (state, fired)``, one per precondition set
(a Flow trigger's ``preconditions``, or an older ``MultipleCondition``):

- the window the event falls in is computed from the set's ``timeWindow`` and the event time
  (``DURATION_WINDOW``: consecutive windows of ``window`` from midnight UTC shifted by
  ``windowAdvance``; ``DAILY_TIME_WINDOW``: ``startTime``..``endTime`` each day;
  ``DAILY_TIME_DEADLINE``: midnight..``deadline``; ``SLIDING_WINDOW``: the last ``window``);
- a stored state of an earlier window is forgotten; events outside a daily window are ignored;
- each condition met by the event records the upstream execution that met it;
- when every condition has been met, the set fires with the upstream executions that met it, and
  (``resetOnSuccess``, the default) starts over; otherwise any later event meeting one of the
  conditions fires again.

Times of day are read in UTC, as Kestra documents them; a time written with an offset keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from kestra_stream.plugins.spi import TimeWindow, TimeWindowType

DEFAULT_WINDOW = timedelta(days=1)
_DAY = timedelta(days=1)


class Met(BaseModel):
    """The upstream execution (and its state change) that met one condition."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    state: str
    # Which state change of the execution (its number of state histories): a key part, so that
    # two PAUSED of one execution are two events.
    transition: int
    at: datetime

    @property
    def key(self) -> str:
        return f"{self.execution_id}:{self.state}:{self.transition}"


class PreconditionState(BaseModel):
    """What is stored per precondition set between events (a SQLite row's JSON)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    results: dict[str, Met]


def firing_key(contributors: Sequence[Met]) -> str:
    """Names a firing by the upstream state changes that caused it (order-independent)."""
    return "+".join(sorted(m.key for m in contributors))


def _seconds_of_day(moment: time) -> float:
    offset = moment.utcoffset() or timedelta(0)
    return (moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
            - offset.total_seconds())


def _midnight(at: datetime) -> datetime:
    utc = at.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC)


def window_bounds(window: TimeWindow, at: datetime) -> tuple[datetime, datetime] | None:
    """The window ``at`` falls in, ``[start, end)``; None when a daily window is not open at ``at``."""
    midnight = _midnight(at)
    match window.type:
        case TimeWindowType.DURATION_WINDOW:
            length = window.window or DEFAULT_WINDOW
            advance = window.window_advance or timedelta(0)
            # Windows up to a day long are laid out from midnight; longer ones from the epoch.
            anchor = (midnight if length <= _DAY else datetime(1970, 1, 1, tzinfo=UTC)) + advance
            start = anchor + length * ((at - anchor) // length)
            return start, start + length
        case TimeWindowType.SLIDING_WINDOW:
            length = window.window or DEFAULT_WINDOW
            return at - length, at + timedelta(microseconds=1)
        case TimeWindowType.DAILY_TIME_DEADLINE:
            assert window.deadline is not None  # the model requires it for this type
            start, end = midnight, midnight + timedelta(seconds=_seconds_of_day(window.deadline))
        case TimeWindowType.DAILY_TIME_WINDOW:
            assert window.start_time is not None and window.end_time is not None
            start = midnight + timedelta(seconds=_seconds_of_day(window.start_time))
            end = midnight + timedelta(seconds=_seconds_of_day(window.end_time))
            if end <= start:  # spans midnight: today's window, or the one that opened yesterday
                end += _DAY
                if at < end - _DAY:
                    start, end = start - _DAY, end - _DAY
    return (start, end) if start <= at < end else None


def advance(window: TimeWindow, conditions: Sequence[str], reset_on_success: bool,
            state: PreconditionState | None, met: Mapping[str, Met],
            at: datetime) -> tuple[PreconditionState | None, tuple[Met, ...] | None]:
    """Apply one upstream event: ``met`` holds the conditions (by id) it met, ``at`` is its time.

    Returns the state to store (None: nothing to keep) and, when the set fires, the upstream
    state changes that met its conditions, in the order of ``conditions``.
    """
    bounds = window_bounds(window, at)
    if bounds is None:
        return _still_open(state, at), None
    start, end = bounds
    if window.type == TimeWindowType.SLIDING_WINDOW:
        kept = {cid: m for cid, m in (state.results if state else {}).items() if m.at >= start}
    elif state is not None and state.start == start and state.end == end:
        kept = dict(state.results)
    else:
        kept = {}
    hits = {cid: m for cid, m in met.items() if cid in conditions}
    if not hits:
        return (PreconditionState(start=start, end=end, results=kept) if kept else None), None
    results = {**kept, **hits}
    if all(cid in results for cid in conditions):
        contributors = tuple(results[cid] for cid in conditions)
        if reset_on_success:
            return None, contributors
        return PreconditionState(start=start, end=end, results=results), contributors
    return PreconditionState(start=start, end=end, results=results), None


def _still_open(state: PreconditionState | None, at: datetime) -> PreconditionState | None:
    return state if state is not None and state.start <= at < state.end else None


def expired(state: PreconditionState, window: TimeWindow, at: datetime) -> bool:
    """Whether a stored state can be dropped: its window has closed (sliding: every result is too old)."""
    if window.type == TimeWindowType.SLIDING_WINDOW:
        length = window.window or DEFAULT_WINDOW
        return all(m.at < at - length for m in state.results.values())
    return at >= state.end
