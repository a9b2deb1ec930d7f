"""Kestra's expression functions: now(), secret(), kv(), read(), render(), range(), fromJson() ...

Functions that need I/O or a clock are supplied by the caller through :class:`Functions` (the
executor passes event time and no I/O, the worker the real clock and real storage). The current
caller's functions and variables travel in a context variable for the duration of one render,
so nothing about them is reachable from inside a template.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kestra_stream.errors import ExpressionError
from kestra_stream.expressions._javadate import zone
from kestra_stream.expressions._values import Failure, ensure_aware, require
from kestra_stream.ids import id_of

# Ranges are materialised as lists; bound them so a template cannot exhaust memory.
MAX_RANGE = 100_000
# render() of a text that renders itself would never end.
MAX_RENDER_DEPTH = 16


@runtime_checkable
class Functions(Protocol):
    """Functions that need I/O or a clock, supplied by whoever renders."""

    def now(self) -> datetime: ...

    def secret(self, name: str) -> str: ...

    def kv(self, key: str, namespace: str | None = None, error_on_missing: bool = False) -> Any: ...

    def read(self, uri: str) -> str: ...

    def file_size(self, uri: str) -> int: ...

    def random_bits(self, bits: int) -> int:
        """``bits`` random bits, for uuid(), id() and randomInt()."""
        ...

    def error_logs(self) -> list[dict[str, Any]]:
        """The current execution's ERROR log lines so far, oldest first, as Kestra's LogEntry maps."""
        ...

    def nonce(self, size: int) -> bytes:
        """``size`` bytes never drawn before (an encryption IV, for encrypt())."""
        ...


class FixedFunctions:
    """A clock stopped at ``now``, and no I/O: what the pure executor can offer."""

    def __init__(self, now: datetime) -> None:
        self._now = ensure_aware(now)
        self._draws = 0

    def random_bits(self, bits: int) -> int:
        # The executor's renders are replayed: "random" values are derived from the event time, and
        # differ between calls of one render.
        self._draws += 1
        digest = hashlib.blake2b(f"{self._now.isoformat()}|{self._draws}".encode(), digest_size=32).digest()
        return int.from_bytes(digest, "big") >> (256 - bits)

    def now(self) -> datetime:
        return self._now

    def nonce(self, size: int) -> bytes:
        raise ExpressionError("encrypt()", "encrypt() runs only in the properties of a task run by a worker: "
                                           "this render is replayed, and an IV drawn twice breaks the key")

    @staticmethod
    def _unavailable(call: str) -> ExpressionError:
        return ExpressionError(
            "", f"{call} is not available in this context (it needs I/O, which only a worker can do); "
                "use it in a runnable task's properties instead of a flowable task's or a trigger's")

    def secret(self, name: str) -> str:
        raise self._unavailable("secret()")

    def kv(self, key: str, namespace: str | None = None, error_on_missing: bool = False) -> Any:
        raise self._unavailable("kv()")

    def read(self, uri: str) -> str:
        raise self._unavailable("read()")

    def file_size(self, uri: str) -> int:
        raise self._unavailable("fileSize()")

    def error_logs(self) -> list[dict[str, Any]]:
        raise self._unavailable("errorLogs()")


class _NoFunctions(FixedFunctions):
    """Used when the caller passed no functions: even the clock is refused, to keep renders pure."""

    def __init__(self) -> None:
        super().__init__(datetime.min)

    def now(self) -> datetime:
        raise ExpressionError("", "now() needs a clock: pass functions=FixedFunctions(<event time>) "
                                  "or the worker's functions to the expression engine")

    def random_bits(self, bits: int) -> int:
        raise ExpressionError("", "uuid(), id() and randomInt() need a source of randomness: pass "
                                  "functions=FixedFunctions(<event time>) or the worker's functions")


NO_FUNCTIONS = _NoFunctions()


@dataclass(frozen=True)
class Scope:
    """What one render call brings along: the caller's functions, its variables, how deep we are."""

    functions: Functions
    variables: Mapping[str, Any]
    render: Callable[[str, Mapping[str, Any], Functions], Any]
    depth: int = 0


SCOPE: ContextVar[Scope | None] = ContextVar("kestra_expression_scope", default=None)


def _scope() -> Scope:
    scope = SCOPE.get()
    if scope is None:
        raise Failure("expression functions can only be called while rendering")
    return scope


def _text_arg(value: Any, function: str, argument: str) -> str:
    require(value)
    if not isinstance(value, str):
        raise Failure(f"{function}() expects a text as {argument}, got {type(value).__name__}")
    return value


def now(timeZone: str | None = None) -> datetime:
    current = ensure_aware(_scope().functions.now())
    return current.astimezone(zone(timeZone)) if timeZone is not None else current


def secret(key: str) -> str:
    return _scope().functions.secret(_text_arg(key, "secret", "the secret name"))


def kv(key: str, namespace: str | None = None, errorOnMissing: bool = False) -> Any:
    # Kestra answers null for a missing key unless errorOnMissing is true.
    key = _text_arg(key, "kv", "the key")
    if namespace is not None:
        namespace = _text_arg(namespace, "kv", "the namespace")
    return _scope().functions.kv(key, namespace, bool(require(errorOnMissing)))


def read(path: str) -> str:
    return _scope().functions.read(_text_arg(path, "read", "the file URI"))


def file_size(path: str) -> int:
    return _scope().functions.file_size(_text_arg(path, "fileSize", "the file URI"))


def error_logs() -> list[dict[str, Any]]:
    return _scope().functions.error_logs()


def render(text: Any, recursive: bool = True) -> Any:
    """Explicit rendering of a text that itself holds expressions, with the same variables.

    Recursive (the default, as Kestra) renders again while the result still holds expressions.
    """
    require(text)
    if not isinstance(text, str):
        return text
    scope = _scope()
    if scope.depth >= MAX_RENDER_DEPTH:
        raise Failure(f"render() nested more than {MAX_RENDER_DEPTH} levels deep; does a text render itself?")
    token = SCOPE.set(Scope(scope.functions, scope.variables, scope.render, scope.depth + 1))
    try:
        result = scope.render(text, scope.variables, scope.functions)
        for _ in range(MAX_RENDER_DEPTH if recursive else 0):
            if not isinstance(result, str) or ("{{" not in result and "{%" not in result):
                break
            again = scope.render(result, scope.variables, scope.functions)
            if again == result:
                break
            result = again
        return result
    finally:
        SCOPE.reset(token)


def render_once(text: Any) -> Any:
    return render(text, recursive=False)


def kestra_range(start: int, end: int, step: int = 1) -> list[int]:
    """Pebble's range: inclusive of ``end``."""
    for value in (start, end, step):
        if not isinstance(require(value), int) or isinstance(value, bool):
            raise Failure(f"range() expects integers, got {value!r}")
    if step == 0:
        raise Failure("range() step must not be 0")
    stop = end + 1 if step > 0 else end - 1
    if len(range(start, stop, step)) > MAX_RANGE:
        raise Failure(f"range() would produce more than {MAX_RANGE} numbers")
    return list(range(start, stop, step))


def from_json(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(_text_arg(text, "fromJson", "the JSON text"))
    except json.JSONDecodeError as exc:
        raise Failure(f"fromJson() could not parse its argument as JSON: {exc}") from exc


def from_ion(ion: Any) -> Any:
    """Kestra's ``fromIon(ion)``: one Ion value read into maps, lists, text and numbers."""
    if ion is None:
        return None
    from amazon.ion.exceptions import IonException

    from kestra_stream.ion import ion_value

    try:
        return ion_value(_text_arg(ion, "fromIon", "the Ion text"))
    except (IonException, ValueError, TypeError, IndexError) as exc:  # what the Ion reader raises on bad text
        raise Failure(f"fromIon() could not parse its argument as Ion: {exc}") from exc


def from_yaml(text: Any) -> Any:
    if text is None:
        return None
    try:
        return YAML(typ="safe", pure=True).load(_text_arg(text, "yaml", "the YAML text"))
    except YAMLError as exc:
        raise Failure(f"yaml() could not parse its argument as YAML: {exc}") from exc


def kestra_uuid() -> str:
    """A random UUID (version 4), as text."""
    return str(uuid.UUID(int=_scope().functions.random_bits(128), version=4))


def kestra_id() -> str:
    """A random id shaped as Kestra's: 22 base62 characters."""
    return id_of(_scope().functions.random_bits(128))


def random_int(lower: int, upper: int) -> int:
    """A random integer from ``lower`` (included) to ``upper`` (excluded; ``lower`` when they are equal)."""
    for value in (lower, upper):
        if not isinstance(require(value), int) or isinstance(value, bool):
            raise Failure(f"randomInt() expects integers, got {value!r}")
    if upper < lower:
        raise Failure(f"randomInt() upper ({upper}) is less than lower ({lower})")
    if upper == lower:
        return lower
    return lower + _scope().functions.random_bits(64) % (upper - lower)


def file_uri(path: str) -> str:
    """The ``kestra://`` URI of the namespace file ``path`` of the flow's namespace."""
    from kestra_stream.storage._uris import namespace_files_uri

    relative = _text_arg(path, "fileURI", "the namespace file path").removeprefix("/")
    if "../" in relative:
        raise Failure(f"fileURI() path must not contain '../', got {path!r}")
    flow = _scope().variables.get("flow")
    namespace = flow.get("namespace") if isinstance(flow, Mapping) else None
    if not isinstance(namespace, str):
        raise Failure("fileURI() needs the flow's namespace, which this expression does not see")
    return f"{namespace_files_uri(namespace)}/{relative}"


def print_context() -> str:
    """Every variable the expression sees, as JSON text (for debugging a flow)."""
    return json.dumps(_scope().variables, default=str, ensure_ascii=False)


def fetch_context() -> dict[str, Any]:
    """Every variable the expression sees, as a map (Kestra's fetchContext(); no ``{% set %}`` locals)."""
    return dict(_scope().variables)


def current_each_output(outputs: Any) -> Any:
    """The part of ``outputs.<taskId>`` (keyed by iteration values) that belongs to the current iteration."""
    node = require(outputs)
    if not isinstance(node, Mapping):
        raise Failure(f"currentEachOutput() expects a map of outputs, got {type(node).__name__}")
    variables = _scope().variables
    parents = variables.get("parents") or []
    path = [p.get("taskrun", {}).get("value") for p in reversed(parents)]
    path.append((variables.get("taskrun") or {}).get("value"))
    for value in path:
        if value is None:
            continue  # a parent that is not an iteration adds no level
        if not isinstance(node, Mapping) or value not in node:
            raise Failure(f"currentEachOutput(): no outputs for the iteration value {value!r}")
        node = node[value]
    return node


def _extreme(pick: Callable[..., Any], name: str) -> Callable[..., Any]:
    def extreme(*values: Any) -> Any:
        if len(values) == 1 and isinstance(values[0], list | tuple):
            values = tuple(values[0])
        if not values:
            raise Failure(f"{name}() needs at least one value")
        return pick(require(v) for v in values)

    return extreme


GLOBALS: dict[str, Any] = {
    "now": now,
    "secret": secret,
    "kv": kv,
    "read": read,
    "fileSize": file_size,
    "errorLogs": error_logs,
    "render": render,
    "renderOnce": render_once,
    "range": kestra_range,
    "fromJson": from_json,
    "json": from_json,
    "yaml": from_yaml,
    "fromIon": from_ion,
    "uuid": kestra_uuid,
    "id": kestra_id,
    "randomInt": random_int,
    "printContext": print_context,
    "fetchContext": fetch_context,
    "fileURI": file_uri,
    "currentEachOutput": current_each_output,
    "max": _extreme(max, "max"),
    "min": _extreme(min, "min"),
}
