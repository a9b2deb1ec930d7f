"""The sandboxed jinja2 environment that speaks Kestra's expression language.

Sandboxing is by construction rather than by blocklist: attribute access reaches map keys (and
Pebble's loop variables) and nothing else, so no Python attribute, method or dunder of any value
is reachable from a template. Jinja's own globals, filters and tests are replaced wholesale by
Kestra's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.lexer import Lexer
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kestra_stream.expressions import _crypto, _filters, _functions, _more_filters
from kestra_stream.expressions._syntax import (
    CONTAINS_TEST,
    RANGE_FILTER,
    PebbleCodeGenerator,
    PebbleLexer,
    PebbleParser,
)
from kestra_stream.expressions._values import Failure, Missing, is_missing, missing, require, to_text

# Results bigger than this from `*` or `**` are refused before they are built.
MAX_SEQUENCE_PRODUCT = 1_000_000
MAX_EXPONENT = 1_000

# Pebble's loop variables, mapped onto jinja's (Pebble's index is 0-based).
_LOOP_ATTRIBUTES = {
    "index": "index0", "index0": "index0", "revindex": "revindex0", "revindex0": "revindex0",
    "first": "first", "last": "last", "length": "length", "depth": "depth0",
}


def _strict(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse missing arguments, and turn Python's complaints into messages naming the filter."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            require(value)
        try:
            return function(*args, **kwargs)
        except Failure:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            raise Failure(f"'{name}' failed: {exc}") from exc

    return call


def _contains(container: Any, item: Any) -> bool:
    require(container)
    require(item)
    if isinstance(container, str):
        return to_text(item) in container
    if isinstance(container, Mapping):
        return item in container
    if isinstance(container, Sequence | set | frozenset):
        if isinstance(item, list | tuple):  # Pebble: a list contains a list when it holds all its items
            return all(element in container for element in item)
        return item in container
    raise Failure(f"'contains' needs a text, a list or a map on its left, got {type(container).__name__}")


def _is_null(value: Any) -> bool:
    return is_missing(value) or value is None


def _is_defined(value: Any) -> bool:
    return not _is_null(value)


def _parity(remainder: int) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        require(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise Failure(f"'is even' / 'is odd' need an integer, got {value!r}")
        return value % 2 == remainder

    return test


_TESTS: dict[str, Callable[..., bool]] = {
    "defined": _is_defined,
    "undefined": lambda v: not _is_defined(v),
    "null": _is_null,
    "none": _is_null,
    "empty": _filters.is_empty,
    "even": _parity(0),
    "odd": _parity(1),
    "iterable": lambda v: isinstance(require(v), list | tuple | Mapping | str),
    "map": lambda v: isinstance(require(v), Mapping),
    CONTAINS_TEST: _contains,
    "json": _more_filters.is_json,
}


class KestraEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class: type[CodeGenerator] = PebbleCodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(
            undefined=Missing,
            autoescape=False,
            # Constant folding would evaluate jinja's own str() on constants (True, not true).
            optimized=False,
            cache_size=0,  # compiled templates are cached by the engine, keyed by source
            keep_trailing_newline=True,
            finalize=self.kestra_finalize,
        )
        self._pebble_lexer = PebbleLexer(self)
        self.globals = {**_functions.GLOBALS, "encrypt": _crypto.encrypt, "decrypt": _crypto.decrypt}
        self.filters = {name: _strict(name, fn)
                        for name, fn in (*_filters.FILTERS.items(), *_more_filters.FILTERS.items())}
        self.filters["default"] = _filters.default
        self.filters[RANGE_FILTER] = _strict("..", _functions.kestra_range)
        self.tests = dict(_TESTS)

    @property
    def lexer(self) -> Lexer:
        return self._pebble_lexer

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return PebbleParser(self, source, name, filename).parse()

    def parse_expression(self, source: str) -> nodes.Expr:
        """Parse a bare expression (no braces); raises jinja's TemplateSyntaxError."""
        parser = PebbleParser(self, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            parser.fail(f"unexpected {parser.stream.current.value!r} after the expression")
        expression.set_environment(self)
        return expression

    # --- called from compiled templates -------------------------------------------------------

    def kestra_finalize(self, value: Any) -> str:
        return to_text(value)

    def kestra_concat(self, values: tuple[Any, ...]) -> str:
        return "".join(to_text(value) for value in values)

    def kestra_coalesce(self, left: Callable[[], Any], right: Callable[[], Any], undefined_only: bool) -> Any:
        try:
            value = left()
        except Failure:
            return right()
        if is_missing(value) or (value is None and not undefined_only):
            return right()
        return value

    def kestra_getattr(self, obj: Any, attribute: str, path: str) -> Any:
        if isinstance(obj, Undefined):
            return obj  # stays missing, and keeps naming the first thing that was missing
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                return missing(path, obj)
        if isinstance(obj, LoopContext) and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, _LOOP_ATTRIBUTES[attribute])
        return missing(path, obj)

    def kestra_getitem(self, obj: Any, key: Any, path: str) -> Any:
        if isinstance(obj, Undefined):
            return obj
        require(key)
        if isinstance(obj, Mapping):
            try:
                return obj[key]
            except (KeyError, TypeError):
                return missing(path, obj)
        if isinstance(obj, list | tuple | str) and isinstance(key, int) and not isinstance(key, bool):
            try:
                return obj[key]
            except IndexError:
                return missing(path)
        return missing(path)

    # jinja's own entry points (used by nothing we compile) answer the same way.
    def getattr(self, obj: Any, attribute: str) -> Any:
        return self.kestra_getattr(obj, attribute, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self.kestra_getitem(obj, argument, repr(argument))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        require(left)
        require(right)
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise Failure(f"exponent {right} is too large (at most {MAX_EXPONENT})")
            return left**right
        for sequence, count in ((left, right), (right, left)):
            if (isinstance(sequence, str | list | tuple) and isinstance(count, int)
                    and len(sequence) * count > MAX_SEQUENCE_PRODUCT):
                raise Failure(f"repeating a text or list would give more than {MAX_SEQUENCE_PRODUCT} items")
        return left * right
