"""What the core plugins share: label lists, expression texts and cron checks (``Props`` and ``as_text``
are the engine's, from its plugin SPI)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from kestra_stream.plugins.spi import Props, as_text

_CRON_NICKNAMES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


class Label(Props):
    """One ``{key, value}`` entry of a label list."""

    key: str
    value: str


def condition_text(value: Any) -> Any:
    """YAML may give a boolean or a number where Kestra expects an expression text."""
    if isinstance(value, bool | int | float):
        return as_text(value)
    return value


def has_expression(text: str) -> bool:
    return "{{" in text or "{%" in text


def check_cron(cron: str, *, with_seconds: bool) -> str:
    """Refuse a cron Kestra would refuse, saying what a valid one looks like."""
    text = " ".join(cron.split())
    if text.lower() in _CRON_NICKNAMES:
        return text.lower()
    expected = 6 if with_seconds else 5
    fields = text.split(" ") if text else []
    example = "'0 */5 * * * *' (seconds first)" if with_seconds else "'*/15 * * * *' or '@daily'"
    if len(fields) != expected:
        more = "" if with_seconds or len(fields) != 6 else "; set `withSeconds: true` for a seconds field"
        raise ValueError(f"invalid cron {cron!r}: expected {expected} fields, got {len(fields)}{more}; "
                         f"a valid one is {example}")
    from croniter import croniter  # only the trigger modules check crons: a flow without them skips its import

    if not croniter.is_valid(text, second_at_beginning=with_seconds):
        raise ValueError(f"invalid cron {cron!r}: a field is out of range or malformed; "
                         f"a valid one is {example}")
    return text


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as "
                         f"'Europe/Paris' or 'UTC'") from exc
    return name


__all__ = ["Label", "Props", "as_text", "check_cron", "check_timezone", "condition_text", "has_expression"]
