"""Dates the way Kestra's ``date`` filters handle them: Java DateTimeFormatter patterns.

Users write Java patterns (``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``, ``EEE``, ``MMM`` ...) and Kestra's
named formats (``iso``, ``sql``, ``iso_date`` ...). Formatting is done letter by letter here rather
than through ``strftime`` because Java's letters (fractions of any width, ``XXX`` offsets printing
``Z``) have no exact strftime equivalent. English names are used, as Kestra's default locale.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from kestra_stream.expressions._values import Failure, ensure_aware, format_datetime

# Kestra's named formats (runners/pebble/AbstractDate.java), as Java patterns or our ISO writers.
_NAMED_PATTERNS: dict[str, str] = {
    "iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "sql": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
    "iso_local_date": "yyyy-MM-dd",
    "iso_date": "yyyy-MM-ddXXX",
    "iso_ordinal_date": "yyyy-DDDXXX",
    "rfc_1123_date_time": "EEE, d MMM yyyy HH:mm:ss 'GMT'",
}
_NAMED_STYLES: dict[str, str] = {
    "full": "EEEE, MMMM d, yyyy 'at' h:mm:ss a z",
    "long": "MMMM d, yyyy 'at' h:mm:ss a z",
    "medium": "MMM d, yyyy, h:mm:ss a",
    "short": "M/d/yy, h:mm a",
}

_UNITS: dict[str, Any] = {
    "NANOS": lambda n: timedelta(microseconds=n / 1000),
    "MICROS": lambda n: timedelta(microseconds=n),
    "MILLIS": lambda n: timedelta(milliseconds=n),
    "SECONDS": lambda n: timedelta(seconds=n),
    "MINUTES": lambda n: timedelta(minutes=n),
    "HOURS": lambda n: timedelta(hours=n),
    "HALF_DAYS": lambda n: timedelta(hours=12 * n),
    "DAYS": lambda n: relativedelta(days=n),
    "WEEKS": lambda n: relativedelta(weeks=n),
    "MONTHS": lambda n: relativedelta(months=n),
    "YEARS": lambda n: relativedelta(years=n),
    "DECADES": lambda n: relativedelta(years=10 * n),
    "CENTURIES": lambda n: relativedelta(years=100 * n),
}

_TOKEN_RE = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.DOTALL)


def zone(name: str | None) -> timezone | ZoneInfo:
    if name is None or name in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Failure(f"unknown time zone {name!r}: use an IANA name such as "
                      f"'Europe/Paris' or 'UTC'") from exc


def _iso_text(value: datetime, name: str) -> str | None:
    """The ISO formats whose output depends on what is set (Java's optional sections)."""
    if name in ("iso_date_time", "iso_zoned_date_time", "iso_offset_date_time"):
        return format_datetime(value)
    if name == "iso_instant":
        return format_datetime(value.astimezone(UTC))
    if name == "iso_local_date_time":
        return format_datetime(value.replace(tzinfo=None))
    if name in ("iso_time", "iso_offset_time"):
        return format_datetime(value)[11:]
    if name == "iso_local_time":
        return format_datetime(value.replace(tzinfo=None))[11:]
    return None


def format_java(value: datetime, pattern: str) -> str:
    """Format ``value`` with a Java DateTimeFormatter pattern or one of Kestra's named formats."""
    iso = _iso_text(value, pattern)
    if iso is not None:
        return iso
    pattern = _NAMED_PATTERNS.get(pattern) or _NAMED_STYLES.get(pattern) or pattern
    return "".join(_format_token(value, token) for token in _tokens(pattern))


@lru_cache(maxsize=256)
def _tokens(pattern: str) -> tuple[str, ...]:
    return tuple(m.group(0) for m in _TOKEN_RE.finditer(pattern))


def _pad(number: int, width: int) -> str:
    return f"{number:0{width}d}"


def _offset_text(value: datetime, width: int, letter: str) -> str:
    offset = value.utcoffset() or timedelta(0)
    seconds = int(offset.total_seconds())
    if seconds == 0 and letter == "X":
        return "Z"
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes = rest // 60
    if letter == "Z":
        if width == 4:
            return "GMT" if seconds == 0 else f"GMT{sign}{hours:02d}:{minutes:02d}"
        if width == 5:
            return "Z" if seconds == 0 else f"{sign}{hours:02d}:{minutes:02d}"
        return f"{sign}{hours:02d}{minutes:02d}"
    if width == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    if width == 2 or width == 4:
        return f"{sign}{hours:02d}{minutes:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}"


def _text(full: str, width: int) -> str:
    if width == 4:
        return full
    if width == 5:
        return full[0]
    return full[:3]


def _format_token(value: datetime, token: str) -> str:
    if token.startswith("'"):
        return "'" if token == "''" else token[1:-1].replace("''", "'")
    letter, width = token[0], len(token)
    if not letter.isalpha():
        return "" if letter in "[]" else token
    if letter in "yu":
        return _pad(value.year % 100, 2) if width == 2 else _pad(value.year, width)
    if letter in "ML":
        if width >= 3:
            return _text(calendar.month_name[value.month], width)
        return _pad(value.month, width)
    if letter == "d":
        return _pad(value.day, width)
    if letter == "D":
        return _pad(value.timetuple().tm_yday, width)
    if letter == "H":
        return _pad(value.hour, width)
    if letter == "h":
        return _pad((value.hour % 12) or 12, width)
    if letter == "k":
        return _pad(value.hour or 24, width)
    if letter == "K":
        return _pad(value.hour % 12, width)
    if letter == "m":
        return _pad(value.minute, width)
    if letter == "s":
        return _pad(value.second, width)
    if letter == "S":
        return f"{value.microsecond:06d}000"[:width].ljust(width, "0")
    if letter == "n":
        return str(value.microsecond * 1000)
    if letter == "a":
        return "AM" if value.hour < 12 else "PM"
    if letter in "Ee":
        return _text(calendar.day_name[value.weekday()], max(width, 3))
    if letter in "Qq":
        quarter = (value.month - 1) // 3 + 1
        if width == 3:
            return f"Q{quarter}"
        return f"{_ordinal(quarter)} quarter" if width == 4 else str(quarter)
    if letter == "w":
        return _pad(value.isocalendar().week, width)
    if letter == "Y":
        year = value.isocalendar().year
        return _pad(year % 100, 2) if width == 2 else _pad(year, width)
    if letter == "G":
        return "Anno Domini" if width == 4 else "AD"
    if letter in "XxZ":
        return _offset_text(value, width, letter)
    if letter == "O":
        return _offset_text(value, 4, "Z") if width == 4 else _offset_text(value, 4, "Z").replace(":00", "")
    if letter == "z":
        return value.tzname() or "UTC"
    if letter == "V":
        key = getattr(value.tzinfo, "key", None)
        return str(key) if key else _offset_text(value, 5, "Z")
    raise Failure(f"date pattern letter {letter!r} is not supported; use Java DateTimeFormatter letters "
                  f"such as yyyy, MM, dd, HH, mm, ss, SSS, EEE, MMM, XXX")


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


# Java pattern -> strptime, for parsing with existingFormat.
_PARSE_CODES: dict[str, str] = {
    "yyyy": "%Y", "uuuu": "%Y", "yy": "%y", "MM": "%m", "M": "%m", "MMM": "%b", "MMMM": "%B",
    "dd": "%d", "d": "%d", "HH": "%H", "H": "%H", "hh": "%I", "h": "%I", "mm": "%M", "m": "%M",
    "ss": "%S", "s": "%S", "a": "%p", "EEE": "%a", "EEEE": "%A", "E": "%a", "DDD": "%j",
    "X": "%z", "XX": "%z", "XXX": "%z", "x": "%z", "xx": "%z", "xxx": "%z", "Z": "%z", "ZZ": "%z",
    "ZZZ": "%z", "ZZZZZ": "%z",
}


@lru_cache(maxsize=256)
def _strptime_format(pattern: str) -> str:
    out: list[str] = []
    for token in _tokens(pattern):
        if token.startswith("'"):
            literal = "'" if token == "''" else token[1:-1].replace("''", "'")
            out.append(literal.replace("%", "%%"))
        elif token[0] == "S":
            out.append("%f")
        elif token[0].isalpha():
            code = _PARSE_CODES.get(token)
            if code is None:
                raise Failure(f"date pattern {token!r} cannot be used to parse (existingFormat {pattern!r})")
            out.append(code)
        elif token not in "[]":
            out.append(token.replace("%", "%%"))
    return "".join(out)


def parse_java(text: str, pattern: str) -> datetime:
    """Parse ``text`` written with a Java pattern (or a named format); naive results are UTC."""
    pattern = _NAMED_PATTERNS.get(pattern, pattern)
    if pattern.lower().startswith("iso"):
        return parse_iso(text)
    try:
        parsed = datetime.strptime(text, _strptime_format(pattern))
    except ValueError as exc:
        raise Failure(f"{text!r} does not match the date format {pattern!r}") from exc
    return ensure_aware(parsed)


def parse_iso(text: str) -> datetime:
    try:
        return ensure_aware(datetime.fromisoformat(text.strip().removesuffix("[UTC]")))
    except ValueError as exc:
        raise Failure(f"{text!r} is not an ISO-8601 date; give existingFormat='<Java pattern>' "
                      f"to read other layouts") from exc


def to_datetime(value: Any, existing_format: str | None = None) -> datetime:
    """Coerce what Kestra's date filters accept: datetimes, dates (at noon), epoch seconds, text."""
    if isinstance(value, datetime):
        return ensure_aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, 12, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        return parse_java(value, existing_format) if existing_format else parse_iso(value)
    raise Failure(f"a value of type {type(value).__name__} is not a date; "
                  f"expected a date or an ISO-8601 text")


def add(value: datetime, amount: int, unit: str) -> datetime:
    step = _UNITS.get(str(unit).upper())
    if step is None:
        raise Failure(f"unknown dateAdd unit {unit!r}; use one of {', '.join(_UNITS)}")
    result: datetime = value + step(amount)
    return result
