"""The public face: render text, render typed values, evaluate bare expressions, check syntax.

Templates and expressions are compiled once and kept in an LRU keyed by their source, since the
executor and the workers render the same few hundred property strings over and over.
"""

from __future__ import annotations

import re
import threading
from collections import ChainMap, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.environment import Template
from jinja2.runtime import Undefined
from jinja2.utils import consume

from kestra_stream.errors import ExpressionError
from kestra_stream.expressions._environment import KestraEnvironment
from kestra_stream.expressions._functions import NO_FUNCTIONS, SCOPE, Functions, Scope
from kestra_stream.expressions._values import Failure, require

_DYNAMIC_RE = re.compile(r"\{\{|\{%")
_RESULT = "__kestra_result__"
DEFAULT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    max_size: int


class _Compiled:
    """A compiled source: text output, or (for ``{{ expr }}`` alone) a native value."""

    __slots__ = ("native", "template")

    def __init__(self, template: Template, native: bool) -> None:
        self.template = template
        self.native = native

    def run(self, variables: Mapping[str, Any]) -> Any:
        # Jinja's own render copies the variables into new dicts, twice, per call: with many (a task's
        # context is a ChainMap of the execution's), that copy cost more than the rendering. The context
        # reads them in place instead, then the template's globals, as jinja's copy would have ordered them.
        template = self.template
        scope: ChainMap[str, Any] = ChainMap(cast("dict[str, Any]", variables), template.globals)
        context = template.new_context(cast("dict[str, Any]", scope), shared=True)
        if not self.native:
            try:
                return template.environment.concat(template.root_render_func(context))
            except Exception:
                template.environment.handle_exception()
        consume(template.root_render_func(context))
        return _strict_result(context.vars[_RESULT])


def _strict_result(value: Any) -> Any:
    """A native result must not hide a missing value inside it."""
    if isinstance(value, Undefined):
        require(value)
    elif callable(value):
        raise Failure("a function is not a value: call it with parentheses")
    elif isinstance(value, list | tuple):
        for item in value:
            _strict_result(item)
    elif isinstance(value, dict):
        for item in value.values():
            _strict_result(item)
    return value


def _syntax_message(error: TemplateSyntaxError) -> str:
    where = f" (line {error.lineno})" if error.lineno and error.lineno > 1 else ""
    return f"invalid expression syntax: {error.message}{where}"


class ExpressionEngine:
    """Renders Kestra expressions. Thread-safe; share one (see :func:`default_engine`)."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._environment = KestraEnvironment()
        self._cache: OrderedDict[tuple[str, str], _Compiled] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self.compilations = 0  # how many sources were compiled; stays put on cache hits

    # --- public API ---------------------------------------------------------------------------

    @staticmethod
    def is_dynamic(value: str) -> bool:
        """Whether a text holds an expression or a tag and so needs rendering."""
        return _DYNAMIC_RE.search(value) is not None

    def render(self, template: str, variables: Mapping[str, Any], functions: Functions | None = None) -> str:
        """Render a text; every ``{{ }}`` prints as Kestra prints values."""
        if not self.is_dynamic(template):
            return template
        compiled = self._compile("text", template, self._compile_text)
        result: str = self._run(template, compiled, variables, functions)
        return result

    def render_typed(self, value: Any, variables: Mapping[str, Any],
                     functions: Functions | None = None) -> Any:
        """Render strings (a lone ``{{ expr }}`` gives its native value), recursing into lists and maps."""
        if isinstance(value, str):
            if not self.is_dynamic(value):
                return value
            compiled = self._compile("typed", value, self._compile_typed)
            return self._run(value, compiled, variables, functions)
        if isinstance(value, list | tuple):
            return [self.render_typed(item, variables, functions) for item in value]
        if isinstance(value, Mapping):
            return {
                self.render_typed(key, variables, functions): self.render_typed(item, variables, functions)
                for key, item in value.items()
            }
        return value

    def evaluate(self, expression: str, variables: Mapping[str, Any],
                 functions: Functions | None = None) -> Any:
        """Evaluate a bare expression (no braces) to its native value."""
        compiled = self._compile("expression", expression, self._compile_expression)
        return self._run(expression, compiled, variables, functions)

    def check(self, template: str) -> None:
        """Check the syntax of a text without rendering it; raises ExpressionError naming the problem."""
        if self.is_dynamic(template):
            self._compile("text", template, self._compile_text)

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._cache), self._cache_size)

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()

    # --- compilation --------------------------------------------------------------------------

    def _compile(self, kind: str, source: str, build: Callable[[str], _Compiled]) -> _Compiled:
        key = (kind, source)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                self._hits += 1
                return found
            self._misses += 1
        try:
            compiled = build(source)
        except TemplateSyntaxError as exc:
            raise ExpressionError(source, _syntax_message(exc)) from None
        except TemplateError as exc:
            raise ExpressionError(source, f"invalid expression: {exc}") from None
        with self._lock:
            self.compilations += 1
            self._cache[key] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    def _compile_text(self, source: str) -> _Compiled:
        return _Compiled(self._environment.from_string(source), native=False)

    def _compile_typed(self, source: str) -> _Compiled:
        tree = self._environment.parse(source)
        expression = self._lone_expression(tree)
        if expression is None:
            return _Compiled(self._environment.from_string(tree), native=False)
        return self._native(expression)

    def _compile_expression(self, source: str) -> _Compiled:
        return self._native(self._environment.parse_expression(source))

    def _native(self, expression: nodes.Expr) -> _Compiled:
        body: list[nodes.Node] = [nodes.Assign(nodes.Name(_RESULT, "store"), expression, lineno=1)]
        return _Compiled(self._environment.from_string(nodes.Template(body, lineno=1)), native=True)

    @staticmethod
    def _lone_expression(tree: nodes.Template) -> nodes.Expr | None:
        """The expression of a text that is exactly one ``{{ expr }}``, blanks around allowed."""
        if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
            return None
        parts = [
            part for part in tree.body[0].nodes
            if not (isinstance(part, nodes.TemplateData) and not part.data.strip())
        ]
        if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
            return None
        return parts[0]

    # --- running ------------------------------------------------------------------------------

    def _run(self, source: str, compiled: _Compiled, variables: Mapping[str, Any],
             functions: Functions | None) -> Any:
        outer = SCOPE.get()
        scope = Scope(functions or NO_FUNCTIONS, variables, self.render, outer.depth if outer else 0)
        token = SCOPE.set(scope)
        try:
            return compiled.run(variables)
        except ExpressionError as exc:
            if exc.expression == source:
                raise
            reason = f"{exc.reason} (while rendering {exc.expression!r})" if exc.expression else exc.reason
            raise ExpressionError(source, reason) from exc
        except Failure as exc:
            raise ExpressionError(source, exc.message) from None
        except TemplateError as exc:
            raise ExpressionError(source, exc.message or type(exc).__name__) from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError, RecursionError) as exc:
            raise ExpressionError(source, f"{type(exc).__name__}: {exc}") from None
        finally:
            SCOPE.reset(token)


_DEFAULT_ENGINE: ExpressionEngine | None = None
_DEFAULT_LOCK = threading.Lock()


def default_engine() -> ExpressionEngine:
    """The process-wide engine (created on first use, so importing has no side effect)."""
    global _DEFAULT_ENGINE
    if _DEFAULT_ENGINE is None:
        with _DEFAULT_LOCK:
            if _DEFAULT_ENGINE is None:
                _DEFAULT_ENGINE = ExpressionEngine()
    return _DEFAULT_ENGINE
