"""The time window of Flow trigger preconditions and of the older MultipleCondition."""

from __future__ import annotations

from datetime import time
from enum import StrEnum

from pydantic import model_validator

from kestra_stream.durations import Duration
from kestra_stream_plugin_core._base import Props


class TimeWindowType(StrEnum):
    DAILY_TIME_DEADLINE = "DAILY_TIME_DEADLINE"
    DAILY_TIME_WINDOW = "DAILY_TIME_WINDOW"
    DURATION_WINDOW = "DURATION_WINDOW"
    SLIDING_WINDOW = "SLIDING_WINDOW"


# Which properties each window type accepts (Kestra's TimeWindowValidator).
_WINDOW_PROPS: dict[TimeWindowType, tuple[frozenset[str], frozenset[str]]] = {
    # type: (allowed, required)
    TimeWindowType.DAILY_TIME_DEADLINE: (frozenset({"deadline"}), frozenset({"deadline"})),
    TimeWindowType.DAILY_TIME_WINDOW: (frozenset({"startTime", "endTime"}),
                                       frozenset({"startTime", "endTime"})),
    TimeWindowType.DURATION_WINDOW: (frozenset({"window", "windowAdvance"}), frozenset()),
    TimeWindowType.SLIDING_WINDOW: (frozenset({"window"}), frozenset()),
}


class TimeWindow(Props):
    """The time window preconditions are evaluated in (a day, by default)."""

    type: TimeWindowType = TimeWindowType.DURATION_WINDOW
    window: Duration | None = None
    window_advance: Duration | None = None
    deadline: time | None = None
    start_time: time | None = None
    end_time: time | None = None

    @model_validator(mode="after")
    def _props_of_type(self) -> TimeWindow:
        allowed, required = _WINDOW_PROPS[self.type]
        given = {name for name, value in (("window", self.window), ("windowAdvance", self.window_advance),
                                          ("deadline", self.deadline), ("startTime", self.start_time),
                                          ("endTime", self.end_time)) if value is not None}
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(f"a time window of type {self.type.value} cannot have {', '.join(extra)}; "
                             f"it takes only {', '.join(sorted(allowed))}")
        missing = sorted(required - given)
        if missing:
            raise ValueError(f"a time window of type {self.type.value} needs {', '.join(missing)}")
        return self
