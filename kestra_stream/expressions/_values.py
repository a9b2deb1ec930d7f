"""Values as Kestra sees them: the strict "missing" marker, printing, JSON.

Kestra renders with strict variables, but a few operators (``??``, ``default``, ``is defined`` ...)
must be able to look at a missing value without failing. A missing value is therefore a
:class:`Missing` object that fails the moment anything tries to *use* it (print, compare, iterate,
do arithmetic), and that the tolerant operators recognise with :func:`is_missing`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NoReturn

from jinja2.runtime import ChainableUndefined, Undefined

from kestra_stream.durations import format_duration

# Kestra's lists of keys in error messages stay readable even on big maps.
_MAX_KEYS_IN_HINT = 12


class Failure(Exception):
    """Raised inside the engine; the public boundary turns it into ExpressionError with the source."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Missing(ChainableUndefined):
    """A variable or attribute that does not exist. Fails on use, passes through ``??`` and tests."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        return (f"variable '{self._undefined_name}' is not defined; use `?? 'fallback'`, "
                f"`| default('fallback')` or `is defined` for optional values")

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise Failure(self._undefined_message)

    __str__ = __iter__ = __len__ = __bool__ = __eq__ = __ne__ = __hash__ = __contains__ = _fail
    __call__ = _fail


def missing(path: str, parent: object = None) -> Missing:
    """The missing value for ``path``, with the keys that do exist when the parent is a map."""
    hint = f"variable '{path}' is not defined"
    if isinstance(parent, Mapping):
        keys = [str(k) for k in list(parent)[:_MAX_KEYS_IN_HINT]]
        more = ", ..." if len(parent) > _MAX_KEYS_IN_HINT else ""
        hint += f" (existing keys: {', '.join(keys) + more})" if keys else " (the map is empty)"
    elif parent is not None:
        hint += f" (a {type(parent).__name__} has no attributes; transform values with filters: `| upper`)"
    hint += "; use `?? 'fallback'`, `| default('fallback')` or `is defined` for optional values"
    return Missing(hint=hint, name=path)


def is_missing(value: object) -> bool:
    return isinstance(value, Undefined)


def require(value: Any) -> Any:
    """Return ``value`` unless it is missing, in which case fail with its message."""
    if isinstance(value, Undefined):
        if isinstance(value, Missing):
            value._fail()
        raise Failure(f"variable '{value._undefined_name}' is not defined")
    return value


def format_datetime(value: datetime) -> str:
    """ISO-8601 the way Java prints instants: fraction in groups of three digits, ``Z`` for UTC."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    micros = value.microsecond
    if micros:
        text += f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    offset = value.utcoffset()
    if offset is None:
        return text
    if offset == timedelta(0):
        return text + "Z"
    return text + _format_offset(offset)


def _format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def to_text(value: Any) -> str:
    """Print a value as Kestra does inside ``{{ }}``."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, Undefined):
        require(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return to_json(value)
    if callable(value):
        raise Failure(f"{getattr(value, '__name__', 'a function')} is a function: call it with parentheses")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        require(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise Failure(f"a value of type {type(value).__name__} cannot be written as JSON")


def to_json(value: Any) -> str:
    """Compact JSON, datetimes as ISO-8601, as Kestra's toJson writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def ensure_aware(value: datetime) -> datetime:
    """Kestra's dates are always zoned; a naive datetime is taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
