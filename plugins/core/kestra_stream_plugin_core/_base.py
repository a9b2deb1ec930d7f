"""What the core plugins share: nested property models, label lists, Kestra's truthiness and cron checks."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Mapping
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"

# Kestra's TruthUtils: these texts are false, every other text is true.
_CRON_NICKNAMES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


class Props(BaseModel):
    """A nested property object of a plugin (camelCase in flows, unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)


class Label(Props):
    """One ``{key, value}`` entry of a label list."""

    key: str
    value: str


def as_text(value: Any) -> str:
    """A rendered value as the text Kestra would compare (``true`` rather than ``True``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


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
