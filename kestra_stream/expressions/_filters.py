"""Kestra's and Pebble's filters, with Pebble's semantics where they differ from jinja's.

Every filter here receives plain values: missing values are refused before the call (see
``_environment.strict``), except by ``default`` which exists to handle them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from io import StringIO
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from ruamel.yaml import YAML

from kestra_stream.expressions import _javadate
from kestra_stream.expressions._values import Failure, is_missing, to_json, to_text

# Bounds on filters whose output size is driven by an argument.
MAX_INDENT = 1_000


def _text(value: Any) -> str:
    return to_text(value)


def is_empty(value: Any) -> bool:
    """Pebble's emptiness: missing, null, blank text, empty collection."""
    if is_missing(value) or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) == 0
    return False


def default(value: Any, fallback: Any = "") -> Any:
    return fallback if is_empty(value) else value


def _in_zone(moment: datetime, time_zone: str | None) -> datetime:
    # Kestra converts to the server's zone when none is given; ours is UTC, and a value that
    # already carries a zone keeps it, which gives the same text on a UTC server.
    return moment if time_zone is None else moment.astimezone(_javadate.zone(time_zone))


def date(value: Any, format: str = "iso", existingFormat: str | None = None,
         timeZone: str | None = None, locale: str | None = None) -> str:
    moment = _javadate.to_datetime(value, existingFormat)
    return _javadate.format_java(_in_zone(moment, timeZone), format)


def date_add(value: Any, amount: int, unit: str, format: str = "iso",
             existingFormat: str | None = None, timeZone: str | None = None) -> str:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise Failure(f"dateAdd expects an integer amount, got {amount!r}")
    moment = _javadate.add(_javadate.to_datetime(value, existingFormat), amount, unit)
    return _javadate.format_java(_in_zone(moment, timeZone), format)


def _epoch(value: Any, existingFormat: str | None, scale: int) -> int:
    moment = _javadate.to_datetime(value, existingFormat).astimezone(UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * scale // 1_000_000


def timestamp(value: Any, existingFormat: str | None = None) -> int:
    return _epoch(value, existingFormat, 1)


def timestamp_milli(value: Any, existingFormat: str | None = None) -> int:
    return _epoch(value, existingFormat, 1_000)


def timestamp_micro(value: Any, existingFormat: str | None = None) -> int:
    return _epoch(value, existingFormat, 1_000_000)


def timestamp_nano(value: Any, existingFormat: str | None = None) -> int:
    return _epoch(value, existingFormat, 1_000_000_000)


def to_yaml(value: Any) -> str:
    out = StringIO()
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.dump(value, out)
    return out.getvalue()


def capitalize(value: Any) -> str:
    text = _text(value)
    return text[:1].upper() + text[1:]


def title(value: Any) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), _text(value))


def length(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | Mapping | list | tuple | set | frozenset):
        return len(value)
    return len(_text(value))


def number(value: Any, type: str | None = None) -> int | float | Decimal:
    if isinstance(value, int | float) and not isinstance(value, bool) and type is None:
        return value
    text = _text(value).strip()
    kind = (type or "").upper()
    try:
        if kind in ("INT", "INTEGER", "LONG", "BIGINTEGER"):
            return int(text)
        if kind in ("FLOAT", "DOUBLE"):
            return float(text)
        if kind == "BIGDECIMAL":
            return Decimal(text)
        if kind:
            raise Failure(f"number type {type!r} is unknown; use INT, LONG, FLOAT, DOUBLE or BIGDECIMAL")
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except (ValueError, InvalidOperation) as exc:
        raise Failure(f"{text!r} is not a number") from exc


def first(value: Any) -> Any:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, str | list | tuple):
        return value[0] if value else None
    raise Failure(f"first expects a list or a text, got {type(value).__name__}")


def last(value: Any) -> Any:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, str | list | tuple):
        return value[-1] if value else None
    raise Failure(f"last expects a list or a text, got {type(value).__name__}")


def _mapping(value: Any, name: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise Failure(f"{name} expects a map, got {type(value).__name__}")
    return value


def keys(value: Any) -> list[Any]:
    return list(_mapping(value, "keys"))


def values(value: Any) -> list[Any]:
    return list(_mapping(value, "values").values())


def slugify(value: Any) -> str:
    text = unicodedata.normalize("NFKD", _text(value)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def split(value: Any, delimiter: str, limit: int | None = None) -> list[str]:
    """Java's String.split with a literal delimiter: a positive limit caps the number of parts,
    no limit drops trailing empty parts."""
    text = _text(value)
    if limit is not None and limit > 0:
        return text.split(delimiter, limit - 1)
    parts = text.split(delimiter)
    if limit is None or limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def join(value: Any, separator: str = "") -> str:
    if isinstance(value, str):
        return value
    return separator.join(_text(item) for item in value)


def replace(value: Any, search: Any, replacement: Any = None, regexp: bool = False) -> str:
    text = _text(value)
    if isinstance(search, Mapping):
        pairs = [(str(k), _text(v)) for k, v in search.items()]
    elif replacement is not None:
        pairs = [(_text(search), _text(replacement))]
    else:
        raise Failure("replace expects a map {'search': 'replacement'} or two arguments "
                      "(search, replacement)")
    for old, new in pairs:
        if regexp:
            try:
                text = re.sub(old, new.replace("$", "\\"), text)
            except re.error as exc:
                raise Failure(f"replace: invalid regular expression {old!r}: {exc}") from exc
        else:
            text = text.replace(old, new)
    return text


def substring_before(value: Any, separator: str) -> str:
    text = _text(value)
    index = text.find(separator)
    return text if index < 0 else text[:index]


def substring_after(value: Any, separator: str) -> str:
    text = _text(value)
    index = text.find(separator)
    return "" if index < 0 else text[index + len(separator):]


def substring_before_last(value: Any, separator: str) -> str:
    text = _text(value)
    index = text.rfind(separator)
    return text if index < 0 else text[:index]


def substring_after_last(value: Any, separator: str) -> str:
    text = _text(value)
    index = text.rfind(separator)
    return "" if index < 0 else text[index + len(separator):]


def round_(value: Any, precision: int = 0) -> int | float:
    try:
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise Failure(f"round expects a number, got {value!r}") from exc
    return int(rounded) if precision <= 0 else float(rounded)


def _sortable(value: Any, name: str) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value)
    if not isinstance(value, list | tuple | set | frozenset):
        raise Failure(f"{name} expects a list, got {type(value).__name__}")
    return list(value)


def sort(value: Any) -> list[Any]:
    return sorted(_sortable(value, "sort"))


def rsort(value: Any) -> list[Any]:
    return sorted(_sortable(value, "rsort"), reverse=True)


def reverse(value: Any) -> Any:
    if isinstance(value, str):
        return value[::-1]
    return list(reversed(_sortable(value, "reverse")))


def slice_(value: Any, fromIndex: int = 0, toIndex: int | None = None) -> Any:
    if not isinstance(value, str | list | tuple):
        raise Failure(f"slice expects a list or a text, got {type(value).__name__}")
    return value[fromIndex:toIndex]


def merge(value: Any, other: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(other, Mapping):
        return {**value, **other}
    if isinstance(value, list | tuple) and isinstance(other, list | tuple):
        return [*value, *other]
    raise Failure(f"merge expects two maps or two lists, "
                  f"got {type(value).__name__} and {type(other).__name__}")


def base64encode(value: Any) -> str:
    return base64.b64encode(_text(value).encode()).decode("ascii")


def base64decode(value: Any) -> str:
    try:
        return base64.b64decode(_text(value), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure("base64decode: the text is not valid base64 of UTF-8 text") from exc


def urlencode(value: Any) -> str:
    # Java's URLEncoder: spaces as '+', '*' kept, '~' encoded.
    return quote_plus(_text(value), safe="*").replace("~", "%7E")


def urldecode(value: Any) -> str:
    return unquote_plus(_text(value))


def _digest(algorithm: str) -> Callable[[Any], str]:
    def digest(value: Any) -> str:
        return hashlib.new(algorithm, _text(value).encode()).hexdigest()

    return digest


def _indent_amount(amount: Any, name: str) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= MAX_INDENT:
        raise Failure(f"the '{name}' filter expects an integer amount between 0 and {MAX_INDENT}")
    return amount


def _line_separator(text: str) -> str:
    for separator in ("\r\n", "\n\r", "\n", "\r"):
        if separator in text:
            return separator
    return "\n"


def indent(value: Any, amount: int, prefix: str = " ") -> str:
    """Indent every line but the first (which sits where the expression is)."""
    text = _text(value)
    if not text:
        return text
    newline = _line_separator(text)
    return text.replace(newline, newline + prefix * _indent_amount(amount, "indent"))


def nindent(value: Any, amount: int, prefix: str = " ") -> str:
    """A newline, then every line indented."""
    text = _text(value)
    if not text:
        return text
    newline = _line_separator(text)
    return (newline + text).replace(newline, newline + prefix * _indent_amount(amount, "nindent"))


def abbreviate(value: Any, length: int) -> str:
    text = _text(value)
    if length < 4:
        raise Failure("abbreviate needs a length of at least 4 (the text keeps room for '...')")
    return text if len(text) <= length else text[: length - 3] + "..."


_ESCAPES = {"single": ("'", "\\'"), "double": ('"', '\\"'), "shell": ("'", "'\\''")}


def escape_char(value: Any, type: str) -> Any:
    pair = _ESCAPES.get(str(type).lower())
    if pair is None:
        raise Failure("escapeChar expects the type 'single', 'double' or 'shell'")
    if isinstance(value, Mapping):
        return {k: escape_char(v, type) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_char(v, type) for v in value]
    return None if value is None else _text(value).replace(*pair)


def distinct(value: Any) -> list[Any]:
    seen: list[Any] = []
    for item in _sortable(value, "distinct"):
        if item not in seen:
            seen.append(item)
    return seen


def flatten(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in _sortable(value, "flatten"):
        out.extend(item if isinstance(item, list | tuple) else [item])
    return out


def chunk(value: Any, size: int) -> list[list[Any]]:
    items = _sortable(value, "chunk")
    if not isinstance(size, int) or size < 1:
        raise Failure("chunk expects a positive size")
    return [items[i:i + size] for i in range(0, len(items), size)]


def _predicate(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def check(value: Any, other: Any) -> bool:
        return test(_text(value), _text(other))

    check.__name__ = name
    return check


FILTERS: dict[str, Callable[..., Any]] = {
    "date": date,
    "dateAdd": date_add,
    "timestamp": timestamp,
    "timestampMilli": timestamp_milli,
    "timestampMicro": timestamp_micro,
    "timestampNano": timestamp_nano,
    "toJson": to_json,
    "json": to_json,
    "yaml": to_yaml,
    "upper": lambda v: _text(v).upper(),
    "lower": lambda v: _text(v).lower(),
    "capitalize": capitalize,
    "title": title,
    "length": length,
    "number": number,
    "first": first,
    "last": last,
    "keys": keys,
    "values": values,
    "slugify": slugify,
    "trim": lambda v: _text(v).strip(),
    "split": split,
    "join": join,
    "replace": replace,
    "substringBefore": substring_before,
    "substringAfter": substring_after,
    "substringBeforeLast": substring_before_last,
    "substringAfterLast": substring_after_last,
    "startsWith": _predicate("startsWith", str.startswith),
    "endsWith": _predicate("endsWith", str.endswith),
    "abs": abs,
    "round": round_,
    "sort": sort,
    "rsort": rsort,
    "reverse": reverse,
    "slice": slice_,
    "merge": merge,
    "base64encode": base64encode,
    "base64decode": base64decode,
    "urlencode": urlencode,
    "urldecode": urldecode,
    "md5": _digest("md5"),
    "sha1": _digest("sha1"),
    "sha256": _digest("sha256"),
    "sha512": _digest("sha512"),
    "indent": indent,
    "nindent": nindent,
    "string": _text,
    "abbreviate": abbreviate,
    "escapeChar": escape_char,
    "distinct": distinct,
    "flatten": flatten,
    "chunk": chunk,
}
