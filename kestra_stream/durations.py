"""ISO-8601 durations as Kestra writes them (PT10M, PT0.5S, P1D), parsed by pydantic."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, TypeAdapter, ValidationError

_TIMEDELTA = TypeAdapter(timedelta)


def parse_duration(value: Any) -> timedelta:
    """Parse an ISO-8601 duration; anything else is refused with the fix in the message."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip().upper().lstrip("-").startswith("P"):
        try:
            return _TIMEDELTA.validate_python(value.strip().upper())
        except ValidationError:
            pass
    raise ValueError(f"invalid duration {value!r}: expected an ISO-8601 duration such as PT10M, PT30S or P1D")


def format_duration(value: timedelta) -> str:
    """Render a timedelta back into ISO-8601 (PT1M30S), as Kestra shows durations."""
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"{sign}P{int(days)}D" if days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{int(hours)}H"
    if minutes:
        clock += f"{int(minutes)}M"
    if seconds or not (days or clock):
        clock += f"{seconds:g}S"
    return out + ("T" + clock if clock else "")


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def _duration_or_expression(value: Any) -> timedelta | str:
    # An expression is kept as text, rendered and parsed when the task runs (Kestra's dynamic durations).
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return value
    return parse_duration(value)


def _format_dynamic(value: timedelta | str) -> str:
    return value if isinstance(value, str) else format_duration(value)


# A duration property that may also be an expression (``delay: "{{ inputs.delay }}"``).
DynamicDuration = Annotated[timedelta | str, BeforeValidator(_duration_or_expression),
                            PlainSerializer(_format_dynamic, return_type=str)]
