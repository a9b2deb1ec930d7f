"""Typed KV values: Kestra's KVType, turning a rendered value into its type, and the stored JSON form."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from kestra_stream.durations import format_duration, parse_duration


class KVType(StrEnum):
    """The type of a KV value (Kestra's ``kvType``)."""

    STRING = "STRING"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"
    DATETIME = "DATETIME"
    DATE = "DATE"
    DURATION = "DURATION"
    JSON = "JSON"


def infer_type(value: Any) -> KVType:
    """The type a value keeps when no ``kvType`` was given (a lone expression keeps its native type)."""
    if isinstance(value, bool):
        return KVType.BOOLEAN
    if isinstance(value, int | float):
        return KVType.NUMBER
    if isinstance(value, datetime):
        return KVType.DATETIME
    if isinstance(value, date):
        return KVType.DATE
    if isinstance(value, timedelta):
        return KVType.DURATION
    if isinstance(value, str):
        return KVType.STRING
    return KVType.JSON


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _datetime(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def coerce(value: Any, kv_type: KVType | None) -> tuple[KVType, Any]:
    """``value`` as a ``kv_type`` (text is parsed as Kestra's Set task does); raises ``ValueError``
    saying what was expected when it does not fit."""
    if kv_type is None:
        return infer_type(value), value
    if value is None:
        raise ValueError(f"a KV value of type {kv_type} cannot be null")
    try:
        return kv_type, _COERCE[kv_type](value)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"value {_text(value)[:200]!r} is not a valid {kv_type}: {_HINT[kv_type]}") from exc


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    number = json.loads(value) if isinstance(value, str) else value
    if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number):
        raise ValueError("not a number")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # Java's Boolean.parseBoolean: only "true", in any case, is true.
    return isinstance(value, str) and value.strip().lower() == "true"


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _datetime(value)
    raise TypeError("expected a date-time")


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        return date.fromisoformat(text) if len(text) == 10 else _datetime(text).date()
    raise TypeError("expected a date")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_COERCE = {
    KVType.STRING: _text,
    KVType.NUMBER: _number,
    KVType.BOOLEAN: _boolean,
    KVType.DATETIME: _to_datetime,
    KVType.DATE: _to_date,
    KVType.DURATION: parse_duration,
    KVType.JSON: _json,
}

_HINT = {
    KVType.STRING: "any text",
    KVType.NUMBER: "a JSON number such as 42 or 3.14",
    KVType.BOOLEAN: "true or false",
    KVType.DATETIME: "an ISO-8601 date-time such as 2024-05-01T10:00:00Z",
    KVType.DATE: "an ISO-8601 date such as 2024-05-01",
    KVType.DURATION: "an ISO-8601 duration such as PT10M or P1D",
    KVType.JSON: "a JSON document",
}


def to_stored(kv_type: KVType, value: Any) -> Any:
    """The JSON form of a typed value."""
    if kv_type in (KVType.DATETIME, KVType.DATE):
        return value.isoformat()
    if kv_type is KVType.DURATION:
        return format_duration(value)
    return value


def from_stored(kv_type: KVType, stored: Any) -> Any:
    """The typed value back from its JSON form."""
    if kv_type is KVType.DATETIME:
        return _datetime(stored)
    if kv_type is KVType.DATE:
        return date.fromisoformat(stored)
    if kv_type is KVType.DURATION:
        return parse_duration(stored)
    return stored
