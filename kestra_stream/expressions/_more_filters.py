"""More of Kestra's and Pebble's filters: ``jq``, ``numberformat``, ``escape``, ``raw``, ``className``, and the
``json`` test. Pure functions of their arguments."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import jq as _jq

from kestra_stream.expressions._values import Failure, require, to_text


def jq(value: Any, expression: Any) -> list[Any] | None:
    """Every result of the jq ``expression`` on ``value`` (JSON text is parsed first), as a list, as Kestra gives."""
    if value is None:
        return None
    if not isinstance(require(expression), str):
        raise Failure(f"jq expects its expression as text, got {type(expression).__name__}")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise Failure(f"jq could not parse its input as JSON: {exc}") from exc
    try:
        program = _jq.compile(expression)
    except ValueError as exc:
        raise Failure(f"jq expression {expression!r} is invalid: {exc}") from exc
    try:
        return list(program.input_value(json.loads(json.dumps(value, default=str))).all())
    except ValueError as exc:
        raise Failure(f"jq expression {expression!r} failed: {exc}") from exc


def is_json(value: Any) -> bool:
    """``is json``: a text that parses as JSON."""
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except json.JSONDecodeError:
        return False
    return True


_PATTERN = re.compile(r"^(?P<prefix>[^#0,.]*)(?P<int>[#0,]+)(?:\.(?P<frac>[0#]*))?(?P<suffix>[^#0,.]*)$")


def numberformat(value: Any, pattern: Any = "#,##0.###") -> str:
    """Pebble's ``numberformat`` with a Java DecimalFormat pattern: ``,`` groups thousands, ``0`` is a digit always
    shown, ``#`` one shown when not zero; rounding half-even as Java does."""
    number = require(value)
    if isinstance(number, bool) or not isinstance(number, int | float | str | Decimal):
        raise Failure(f"numberformat expects a number, got {type(number).__name__}")
    try:
        decimal = Decimal(str(number))
    except InvalidOperation as exc:
        raise Failure(f"numberformat expects a number, got {number!r}") from exc
    match = _PATTERN.match(require(pattern)) if isinstance(pattern, str) else None
    if match is None:
        raise Failure(f"numberformat supports patterns such as '#,##0.00' or '0.###', got {pattern!r}")
    integer, fraction = match["int"], match["frac"] or ""
    min_int = integer.replace(",", "").count("0")
    min_frac, max_frac = fraction.count("0"), len(fraction)
    rounded = decimal.quantize(Decimal(1).scaleb(-max_frac), rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    whole, _, decimals = f"{abs(rounded):f}".partition(".")
    whole = whole.lstrip("0").rjust(min_int, "0")
    decimals = decimals.rstrip("0").ljust(min_frac, "0")
    if "," in integer:
        size = len(integer) - integer.rfind(",") - 1
        groups = [whole[max(i - size, 0):i] for i in range(len(whole), 0, -size)]
        whole = ",".join(reversed(groups))
    text = whole + (f".{decimals}" if decimals else "")
    return f"{match['prefix']}{sign}{text or '0'}{match['suffix']}"


def escape(value: Any, strategy: Any = "html") -> str:
    """Pebble's ``escape``: for HTML (the default), a JavaScript string, or a URL parameter."""
    text = to_text(require(value))
    if strategy == "html":
        return html.escape(text, quote=True)
    if strategy == "js":
        return json.dumps(text)[1:-1].replace("'", "\\'").replace("/", "\\/")
    if strategy == "url_param":
        return quote(text, safe="")
    raise Failure(f"escape strategy {strategy!r} is not one of html, js, url_param")


def raw(value: Any) -> Any:
    """Pebble's ``raw``: the value unescaped; expressions here are never auto-escaped, so it is the value."""
    return value


_JAVA_CLASSES: tuple[tuple[type, str], ...] = (
    (bool, "java.lang.Boolean"),
    (int, "java.lang.Integer"),
    (float, "java.lang.Double"),
    (str, "java.lang.String"),
    (Mapping, "java.util.LinkedHashMap"),
    (list, "java.util.ArrayList"),
    (tuple, "java.util.ArrayList"),
)


def class_name(value: Any) -> str | None:
    """Kestra's ``className``: the Java class the value would have in Kestra (Long past 32 bits)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not -2**31 <= value < 2**31:
        return "java.lang.Long"
    for kind, name in _JAVA_CLASSES:
        if isinstance(value, kind):
            return name
    return f"python.{type(value).__name__}"


def to_ion(value: Any) -> str:
    """Kestra's ``toIon``: the value as Ion text (``null`` for null)."""
    from kestra_stream.ion import ion_text

    try:
        return ion_text(value)
    except (TypeError, ValueError) as exc:
        raise Failure(f"toIon could not write a {type(value).__name__} as Ion: {exc}") from exc


FILTERS: dict[str, Callable[..., Any]] = {
    "jq": jq,
    "numberformat": numberformat,
    "escape": escape,
    "e": escape,
    "raw": raw,
    "className": class_name,
    "toIon": to_ion,
}
