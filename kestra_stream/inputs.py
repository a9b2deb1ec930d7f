"""Turning submitted execution inputs into typed values, as a flow's ``inputs`` declare them.

Pure: no I/O and no clock. Values come either as text (``from_text=True``: a command line
``--input rows=1000`` or a form field) or already native (a JSON API body, subflow inputs);
a string is parsed in both cases, so ``"42"`` is a valid INT either way.

Every problem is an ``InputError`` naming the input; when several inputs are wrong at once,
``coerce_inputs`` raises one ``InputErrors`` listing each of them, so a user fixes all in one go.
Storing uploaded files is the caller's job: a FILE input receives the URI of a stored file.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kestra_stream.durations import format_duration, parse_duration
from kestra_stream.errors import ExpressionError, InputError, KestraStreamError
from kestra_stream.models.inputs import (
    ArrayInput,
    DateInput,
    DateTimeInput,
    DurationInput,
    FileInput,
    FloatInput,
    Input,
    InputType,
    IntInput,
    MultiselectInput,
    SecretInput,
    SelectInput,
    StringInput,
    TimeInput,
)

__all__ = [
    "FILE_URI_SCHEMES",
    "InputErrors",
    "Renderer",
    "coerce_input_value",
    "coerce_inputs",
    "coerce_output_value",
    "coerce_value",
    "resolution_order",
]

Renderer = Callable[[str, Mapping[str, Any]], Any]
"""Renders one expression template against variables (``{"inputs": ...}``), keeping native types."""

FILE_URI_SCHEMES = frozenset({"kestra", "file", "nsfile", "http", "https"})

_TEXT_TYPES = frozenset({InputType.STRING, InputType.SECRET})
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_MISSING = object()


class InputErrors(InputError):
    """Several inputs are invalid; ``errors`` holds one ``InputError`` per input."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        self.errors = tuple(errors)
        self.input_id = ", ".join(e.input_id for e in self.errors)
        self.reason = "; ".join(f"{e.input_id}: {e.reason}" for e in self.errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        KestraStreamError.__init__(self, f"{len(self.errors)} inputs are invalid:\n{lines}")


def _show(value: Any, *, secret: bool = False) -> str:
    if secret:
        return "the given secret"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- one value, by type -------------------------------------------------------------------------
# Each converter raises ValueError with "what was given; what was expected"; coerce_value names
# the input.


def _text(value: Any, secret: bool = False) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"{_show(value, secret=secret)} is a {type(value).__name__}; expected text")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        return int(value.strip())
    raise ValueError(f"{_show(value)} is not an integer; expected a whole number such as 42")


def _float(value: Any) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{_show(value)} is not a number; expected a number such as 3.14")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"{_show(value)} is not a boolean; expected true or false (or yes/no, 1/0)")


def _datetime(value: Any) -> datetime:
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError(
            f"{_show(value)} is not a date-time; expected ISO-8601 such as 2024-01-31T10:00:00Z")
    # Naive text carries no zone; Kestra reads it as UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} is not a date; expected ISO-8601 such as 2024-01-31")


def _time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} is not a time; expected ISO-8601 such as 10:30:00")


def _duration(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(
            f"{_show(value)} is not a duration; expected ISO-8601 such as PT5M, PT30S or P1D") from None


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{_show(value)} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
            'expected a JSON document such as {"key": "value"}') from None


def _yaml(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return YAML(typ="safe", pure=True).load(value)
    except YAMLError as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"{_show(value)} is not valid YAML ({reason}); expected a YAML document such as 'key: value'"
        ) from None


def _uri(value: Any) -> str:
    # As Kestra: a scheme and an authority (`scheme://host...`); `http:/bla` or `mailto:x` are refused.
    text = _text(value)
    split = urlsplit(text)
    if (any(c.isspace() for c in text) or not _URI_SCHEME.match(split.scheme)
            or not text[len(split.scheme) + 1:].startswith("//") or not split.hostname):
        raise ValueError(f"{_show(value)} is not an absolute URI with a host; expected one such as "
                         "https://example.com/path")
    return text


def _email(value: Any) -> str:
    text = _text(value)
    if not _EMAIL.match(text):
        raise ValueError(f"{_show(value)} is not an email address; expected one such as ada@example.com")
    return text


def _file(value: Any) -> str:
    text = _text(value)
    scheme = urlsplit(text).scheme.lower()
    if scheme not in FILE_URI_SCHEMES:
        raise ValueError(
            f"{_show(value)} is not a file URI; expected kestra:///..., nsfile:///path, file:///path or "
            "http(s)://...; upload a local file first (the CLI and the API do it when given a file)")
    return text


def _list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{_show(value)} is not a valid JSON list ({err.msg}); "
                                 'expected a list such as ["a", "b"] or a,b') from None
            if isinstance(parsed, list):
                return parsed
        elif not text:
            return []
        else:
            return [part.strip() for part in text.split(",")]
    raise ValueError(f"{_show(value)} is not a list; expected a list such as [\"a\", \"b\"] or a,b")


_CONVERTERS: dict[InputType, Callable[[Any], Any]] = {
    InputType.STRING: _text,
    InputType.INT: _int,
    InputType.FLOAT: _float,
    InputType.BOOLEAN: _bool,
    InputType.DATETIME: _datetime,
    InputType.DATE: _date,
    InputType.TIME: _time,
    InputType.DURATION: _duration,
    InputType.FILE: _file,
    InputType.JSON: _json,
    InputType.YAML: _yaml,
    InputType.URI: _uri,
    InputType.EMAIL: _email,
    InputType.SELECT: _text,
}


def coerce_value(type_: InputType, value: Any, *, input_id: str, item_type: InputType | None = None,
                 from_text: bool = False) -> Any:
    """One value as ``type_`` says (also how flow outputs are typed); ``None`` stays ``None``.

    ``from_text`` says values are text as typed by a user: then items of an ARRAY given as
    ``a,b`` are parsed as text too. A string is always parsed, whatever ``from_text`` says.
    """
    if value is None:
        return None
    kind = type_.canonical
    try:
        if kind is InputType.SECRET:
            return _text(value, secret=True)
        if kind is InputType.MULTISELECT:
            return [_text(item) for item in _list(value)]
        if kind is InputType.ARRAY:
            return _array(value, input_id=input_id, item_type=item_type, from_text=from_text)
        return _CONVERTERS[kind](value)
    except ValueError as err:
        raise InputError(input_id, str(err)) from None


def coerce_output_value(type_: InputType, value: Any, *, output_id: str) -> Any:
    """A flow output's rendered value typed as its ``type``: as an input's, except that a map or a list
    given to a STRING output becomes its JSON text, as Kestra writes it."""
    if type_.canonical is InputType.STRING and isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return coerce_value(type_, value, input_id=output_id)


def _array(value: Any, *, input_id: str, item_type: InputType | None, from_text: bool) -> list[Any]:
    if item_type is None:  # a flow output (inputs require an itemType): Kestra keeps its items as they are
        return _list(value)
    out: list[Any] = []
    for index, item in enumerate(_list(value)):
        try:
            out.append(coerce_value(item_type, item, input_id=input_id, from_text=from_text))
        except InputError as err:
            raise ValueError(f"item [{index}]: {err.reason}") from None
    return out


# --- one value, by definition (type and options) ------------------------------------------------


def coerce_input_value(definition: Input, value: Any, *, from_text: bool = False,
                       choices: Sequence[str] | None = None) -> Any:
    """A value typed and checked against every option of ``definition``.

    ``choices`` are the values a SELECT or MULTISELECT ``expression`` rendered to; without
    them only static ``values`` are enforced.
    """
    item_type = definition.item_type if isinstance(definition, ArrayInput | MultiselectInput) else None
    typed = coerce_value(definition.type, value, input_id=definition.id, item_type=item_type,
                         from_text=from_text)
    if typed is not None:
        try:
            _check_options(definition, typed, choices)
        except ValueError as err:
            raise InputError(definition.id, str(err)) from None
    return typed


def _check_options(definition: Input, value: Any, choices: Sequence[str] | None) -> None:
    if isinstance(definition, StringInput | SecretInput):
        _check_text(definition, value)
    elif isinstance(definition, IntInput | FloatInput):
        _check_bounds(value, definition.min, definition.max, str)
    elif isinstance(definition, DurationInput):
        _check_bounds(value, definition.min, definition.max, format_duration)
    elif isinstance(definition, DateTimeInput | DateInput | TimeInput):
        _check_window(value, definition.after, definition.before)
    elif isinstance(definition, SelectInput | MultiselectInput):
        allowed = list(choices) if choices is not None else definition.choices
        if allowed is not None and not definition.allow_custom_value:
            for item in value if isinstance(value, list) else [value]:
                if item not in allowed:
                    raise ValueError(f"{_show(item)} is not one of {', '.join(allowed)}")
    elif isinstance(definition, FileInput) and definition.allowed_file_extensions:
        _check_extension(value, definition.allowed_file_extensions)


def _check_text(definition: StringInput | SecretInput, value: str) -> None:
    secret = definition.kind is InputType.SECRET
    shown = _show(value, secret=secret)
    if definition.validator is not None and re.fullmatch(definition.validator, value) is None:
        raise ValueError(
            f"{shown} does not match the validator {definition.validator!r}; give a value matching it")
    if definition.min_length is not None and len(value) < definition.min_length:
        raise ValueError(
            f"{shown} is {len(value)} characters long; expected at least {definition.min_length}")
    if definition.max_length is not None and len(value) > definition.max_length:
        raise ValueError(
            f"{shown} is {len(value)} characters long; expected at most {definition.max_length}")


def _check_bounds(value: Any, low: Any, high: Any, fmt: Callable[[Any], str]) -> None:
    if low is not None and value < low:
        raise ValueError(
            f"{fmt(value)} is less than the minimum {fmt(low)}; give a value of at least {fmt(low)}")
    if high is not None and value > high:
        raise ValueError(
            f"{fmt(value)} is greater than the maximum {fmt(high)}; give a value of at most {fmt(high)}")


def _check_window(value: Any, after: Any, before: Any) -> None:
    # Python refuses to order a time with an offset against one without; say so instead of crashing.
    bounds = [b for b in (after, before) if b is not None]
    if isinstance(value, time) and any((b.tzinfo is None) != (value.tzinfo is None) for b in bounds):
        raise ValueError(
            f"{value.isoformat()} and the input's after/before cannot be compared because only one of them "
            "has a time-zone offset; give the time the same way the bounds are written")
    if after is not None and value < after:
        raise ValueError(f"{value.isoformat()} is before {after.isoformat()}; "
                         f"give a value on or after {after.isoformat()} (the input's 'after')")
    if before is not None and value > before:
        raise ValueError(f"{value.isoformat()} is after {before.isoformat()}; "
                         f"give a value on or before {before.isoformat()} (the input's 'before')")


def _check_extension(uri: str, allowed: Sequence[str]) -> None:
    suffix = PurePosixPath(unquote(urlsplit(uri).path)).suffix.lower()
    wanted = [e.lower() if e.startswith(".") else f".{e.lower()}" for e in allowed]
    if suffix not in wanted:
        got = f"extension {suffix}" if suffix else "no extension"
        raise ValueError(f"{_show(uri)} has {got}; expected a file ending in {', '.join(wanted)}")


# --- a whole execution's inputs -----------------------------------------------------------------


def coerce_inputs(definitions: Sequence[Input], raw: Mapping[str, Any], *, from_text: bool = False,
                  render: Renderer | None = None) -> dict[str, Any]:
    """Every declared input, typed and checked; dotted ids become nested mappings.

    Inputs are resolved in ``dependsOn`` order. ``render(template, {"inputs": resolved})``
    evaluates ``dependsOn.condition``, SELECT/MULTISELECT ``expression`` and expression
    ``defaults``; without it, conditions count as true, expression choices are not enforced
    and expression defaults are kept as their text. Keys the flow does not declare are ignored.
    """
    order = resolution_order(definitions)
    position = {d.id: i for i, d in enumerate(definitions)}
    resolved: dict[str, Any] = {}
    errors: list[InputError] = []
    for definition in order:
        if any(dep not in resolved for dep in _dependencies(definition)):
            continue  # a dependency is invalid and already reported; this one cannot be decided
        try:
            resolved[definition.id] = _resolve(definition, raw, resolved, from_text=from_text, render=render)
        except InputError as err:
            errors.append(err)
    if errors:
        errors.sort(key=lambda e: position[e.input_id])
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return _nest({d.id: resolved[d.id] for d in definitions})


def _resolve(definition: Input, raw: Mapping[str, Any], resolved: Mapping[str, Any], *, from_text: bool,
             render: Renderer | None) -> Any:
    if not _enabled(definition, resolved, render):
        return None
    choices = _rendered_choices(definition, resolved, render)
    value = _lookup(raw, definition.id)
    if value is _MISSING or value is None or (
            from_text and value == "" and definition.kind not in _TEXT_TYPES):
        return _default(definition, resolved, render, choices)
    return coerce_input_value(definition, value, from_text=from_text, choices=choices)


def _default(definition: Input, resolved: Mapping[str, Any], render: Renderer | None,
             choices: Sequence[str] | None) -> Any:
    default = definition.defaults
    if default is None:
        if definition.required:
            raise InputError(
                definition.id,
                "a value is required but none was given; give one, or declare 'defaults' or 'required: false' "
                "on the input")
        return None
    if isinstance(default, str) and ("{{" in default or "{%" in default):
        if render is None:
            return default
        default = _render(definition, "defaults", default, resolved, render)
    return coerce_input_value(definition, default, choices=choices)


def _enabled(definition: Input, resolved: Mapping[str, Any], render: Renderer | None) -> bool:
    condition = definition.depends_on.condition if definition.depends_on else None
    if condition is None or render is None:
        return True
    result = _render(definition, "dependsOn.condition", condition, resolved, render)
    if isinstance(result, str):
        return result.strip().lower() in _TRUE
    return bool(result)


def _rendered_choices(definition: Input, resolved: Mapping[str, Any],
                      render: Renderer | None) -> list[str] | None:
    if not isinstance(definition, SelectInput | MultiselectInput) or definition.expression is None:
        return None
    if render is None:
        return None
    result = _render(definition, "expression", definition.expression, resolved, render)
    if isinstance(result, str):
        with contextlib.suppress(json.JSONDecodeError):
            result = json.loads(result)
    if not isinstance(result, list | tuple):
        raise InputError(
            definition.id,
            f"its expression {definition.expression!r} rendered {_show(result)}; expected a list of values, "
            "such as the result of a KV lookup holding a JSON array")
    return [_text(item) for item in result if item is not None]


def _render(definition: Input, what: str, template: str, resolved: Mapping[str, Any],
            render: Renderer) -> Any:
    try:
        return render(template, {"inputs": _nest(resolved)})
    except ExpressionError as err:
        raise InputError(definition.id, f"its {what} {template!r} cannot be rendered: {err}") from None


def _lookup(raw: Mapping[str, Any], input_id: str) -> Any:
    """The raw value of an input, by flat key (``"a.b"``) or by nested mappings (``{"a": {"b": ..}}``)."""
    if input_id in raw:
        return raw[input_id]
    node: Any = raw
    for part in input_id.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _dependencies(definition: Input) -> list[str]:
    return list(definition.depends_on.inputs) if definition.depends_on else []


def resolution_order(definitions: Sequence[Input]) -> list[Input]:
    """Declaration order, moved only as much as ``dependsOn`` requires.

    Also checks the definitions as a whole (distinct ids, no id nested under another,
    ``dependsOn`` naming declared inputs without cycles): a flow loader can call it to refuse
    such a flow at load time.
    """
    by_id: dict[str, Input] = {}
    for definition in definitions:
        if definition.id in by_id:
            raise InputError(definition.id, "is declared twice; give each input a distinct id")
        by_id[definition.id] = definition
    for definition in definitions:
        parent = definition.id.rsplit(".", 1)[0] if "." in definition.id else None
        while parent is not None:
            if parent in by_id:
                raise InputError(definition.id, f"its id is nested under the input '{parent}', so both "
                                 "cannot hold a value; rename one of them")
            parent = parent.rsplit(".", 1)[0] if "." in parent else None

    order: list[Input] = []
    state: dict[str, str] = {}

    def visit(definition: Input, path: tuple[str, ...]) -> None:
        if state.get(definition.id) == "done":
            return
        if state.get(definition.id) == "visiting":
            cycle = " -> ".join((*path[path.index(definition.id):], definition.id))
            raise InputError(
                definition.id, f"dependsOn forms a cycle ({cycle}); remove one of these dependencies")
        state[definition.id] = "visiting"
        for dep in _dependencies(definition):
            if dep not in by_id:
                raise InputError(
                    definition.id,
                    f"dependsOn names '{dep}', which is not an input of this flow; "
                    f"declared inputs: {', '.join(by_id)}")
            visit(by_id[dep], (*path, definition.id))
        state[definition.id] = "done"
        order.append(definition)

    for definition in definitions:
        visit(definition, ())
    return order
