"""Pebble syntax on top of jinja2: extra operators in the lexer, parser and code generator.

Kestra users write Pebble, which is close to jinja but adds ``??``/``???`` (null and undefined
coalescing), ``contains``, ``equals``, the ``cond ? a : b`` ternary, ``a..b`` ranges, ``null`` and ``elseif``.
They are added as real tokens and grammar rules, so string literals that happen to contain
``??`` or ``contains`` are never touched.

Attribute and item access are compiled into calls that carry the source path (``inputs.nme``) so
that a missing value can say exactly what was missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.lexer import (
    TOKEN_BLOCK_BEGIN,
    TOKEN_NAME,
    TOKEN_OPERATOR,
    Lexer,
    Token,
    operator_re,
    operators,
)
from jinja2.parser import Parser

if TYPE_CHECKING:
    from jinja2 import Environment

# Token types of the Pebble operators jinja does not know.
_EXTRA_OPERATORS = {"???": "undefcoalesce", "??": "nullcoalesce", "?": "question", "..": "dotdot"}
_COALESCE_TOKENS = ("nullcoalesce", "undefcoalesce")
# Longest first, so that "???" wins over "??" over "?", and ".." over ".".
_ALL_OPERATORS = sorted([*operators, *_EXTRA_OPERATORS], key=len, reverse=True)
_OPERATOR_RE = re.compile("(" + "|".join(re.escape(op) for op in _ALL_OPERATORS) + ")")

CONTAINS_TEST = "__kestra_contains"
RANGE_FILTER = "__kestra_range"
# jinja refuses new node types, so `a ?? b` is parsed into a Filter node with these reserved names
# and compiled by PebbleCodeGenerator.visit_Filter into lazy code of its own.
_COALESCE_NULL = "__kestra_coalesce_null"
_COALESCE_UNDEFINED = "__kestra_coalesce_undefined"


def _verbatim_as_raw(rule: Any) -> Any:
    """Pebble's ``{% verbatim %}...{% endverbatim %}`` is jinja's raw block: both spellings open and close it."""
    pattern = rule.pattern.pattern
    if r"\s*raw\s*" not in pattern and r"\s*endraw\s*" not in pattern:
        return rule
    pattern = pattern.replace(r"\s*endraw\s*", r"\s*(?:endraw|endverbatim)\s*")
    pattern = pattern.replace(r"\s*raw\s*", r"\s*(?:raw|verbatim)\s*")
    return rule._replace(pattern=re.compile(pattern, rule.pattern.flags))


class PebbleLexer(Lexer):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # Swap jinja's operator rule for ours in every lexer state; the jinja module stays untouched.
        for state, rules in self.rules.items():
            self.rules[state] = [
                rule._replace(pattern=_OPERATOR_RE) if rule.pattern is operator_re else _verbatim_as_raw(rule)
                for rule in rules
            ]

    def wrap(self, stream: Iterable[tuple[int, str, str]], name: str | None = None,
             filename: str | None = None) -> Iterator[Token]:
        previous = ""
        for lineno, kind, value in stream:
            if kind == TOKEN_OPERATOR and value in _EXTRA_OPERATORS:
                token = Token(lineno, _EXTRA_OPERATORS[value], value)
            elif kind == TOKEN_NAME and value == "elseif" and previous == TOKEN_BLOCK_BEGIN:
                token = Token(lineno, TOKEN_NAME, "elif")
            else:
                converted = list(super().wrap(((lineno, kind, value),), name, filename))
                if not converted:
                    continue
                token = converted[0]
            previous = token.type
            yield token


class PebbleParser(Parser):
    def parse_condexpr(self) -> nodes.Expr:
        lineno = self.stream.current.lineno
        node = super().parse_condexpr()
        if self.stream.skip_if("question"):
            when_true = self.parse_condexpr()
            self.stream.expect("colon")
            when_false = self.parse_condexpr()
            node = nodes.CondExpr(node, when_true, when_false, lineno=lineno)
        return node

    def parse_not(self) -> nodes.Expr:
        if self.stream.current.test("name:not"):
            return super().parse_not()
        lineno = self.stream.current.lineno
        node = self.parse_compare()
        while True:
            if self.stream.skip_if("name:contains"):
                node = nodes.Test(node, CONTAINS_TEST, [self.parse_compare()], [], None, None, lineno=lineno)
            elif self.stream.skip_if("dotdot"):
                node = nodes.Filter(node, RANGE_FILTER, [self.parse_compare()], [], None, None, lineno=lineno)
            elif self.stream.skip_if("name:equals"):  # Pebble's word for ==
                node = nodes.Compare(node, [nodes.Operand("eq", self.parse_compare())], lineno=lineno)
            else:
                return node

    def parse_unary(self, with_filter: bool = True) -> nodes.Expr:
        # Pebble gives ?? a higher precedence than filters: `a ?? b | upper` is `(a ?? b) | upper`.
        node = super().parse_unary(with_filter=False)
        while True:
            token = self.stream.current
            if token.type in _COALESCE_TOKENS:
                next(self.stream)
                right = super().parse_unary(with_filter=False)
                name = _COALESCE_UNDEFINED if token.type == "undefcoalesce" else _COALESCE_NULL
                node = nodes.Filter(node, name, [right], [], None, None, lineno=token.lineno)
            elif with_filter and (token.type == "pipe" or token.test("name:is")):
                node = self.parse_filter_expr(node)
            else:
                return node

    def parse_primary(self, with_namespace: bool = False) -> nodes.Expr:
        token = self.stream.current
        if token.test("name:null"):
            next(self.stream)
            return nodes.Const(None, lineno=token.lineno)
        return super().parse_primary(with_namespace)


def describe(node: nodes.Node) -> str:
    """The source-like path of an access expression, for error messages (``outputs['a-b'].value``)."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{describe(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        if isinstance(node.arg, nodes.Const):
            return f"{describe(node.node)}[{node.arg.value!r}]"
        return f"{describe(node.node)}[...]"
    if isinstance(node, nodes.Const) and len(repr(node.value)) <= 40:
        return repr(node.value)
    if isinstance(node, nodes.Call):
        return f"{describe(node.node)}(...)"
    if isinstance(node, nodes.Filter) and node.name in (_COALESCE_NULL, _COALESCE_UNDEFINED):
        return "(... ?? ...)"
    if isinstance(node, nodes.Filter):
        return f"({describe(node.node) if node.node is not None else '...'} | {node.name})"
    return "(...)"


class PebbleCodeGenerator(CodeGenerator):
    def visit_Filter(self, node: nodes.Filter, frame: Frame) -> None:
        if node.name not in (_COALESCE_NULL, _COALESCE_UNDEFINED) or node.node is None:
            super().visit_Filter(node, frame)
            return
        # Both sides are thunks: the left one may fail on a missing value (Kestra then takes the right).
        self.write("environment.kestra_coalesce(lambda: ")
        self.visit(node.node, frame)
        self.write(", lambda: ")
        self.visit(node.args[0], frame)
        self.write(f", {node.name == _COALESCE_UNDEFINED!r})")

    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        self.write("environment.kestra_getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}, {describe(node)!r})")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.kestra_getitem(")
        self.visit(node.node, frame)
        self.write(", ")
        self.visit(node.arg, frame)
        self.write(f", {describe(node)!r})")

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # jinja folds constant output at compile time with its own str() (True, not true); only
        # literal template text is safe to fold.
        if isinstance(node, nodes.TemplateData):
            result: str = super()._output_child_to_const(node, frame, finalize)
            return result
        raise nodes.Impossible()

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Pebble prints operands as it prints values (true, not True), so jinja's str() join won't do.
        self.write("environment.kestra_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

