"""Template injection: nothing in a template reaches Python internals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kestra_stream.errors import ExpressionError
from kestra_stream.expressions import ExpressionEngine, FixedFunctions

VARIABLES: dict[str, Any] = {"inputs": {"name": "x", "items": [1, 2]}, "x": "text"}

PAYLOADS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ()|attr('__class__') }}",
    "{{ ''|attr('__class__') }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ now.__globals__['SCOPE'] }}",
    "{{ render.__code__ }}",
    "{{ dict(a=1) }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '%s'.format(x) }}",
    "{{ x.__len__() }}",
    "{{ x.upper() }}",
    "{{ inputs.items.append(3) }}",
    "{{ inputs.__class__ }}",
    "{{ inputs['__class__'] }}",
    "{{ inputs.keys() }}",
    "{{ inputs.items.pop() }}",
    "{{ loop.__class__ }}",
    "{% for i in inputs.items %}{{ loop.__class__ }}{% endfor %}",
    "{% for i in inputs.items %}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{{ fromJson.__globals__ }}",
    "{{ 'a' * 100000000 }}",
    "{{ 9 ** 999999 }}",
    "{{ [1] * 10000000 }}",
]


@pytest.fixture(scope="module")
def engine() -> ExpressionEngine:
    return ExpressionEngine()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payload_raises_expression_error(engine: ExpressionEngine, payload: str) -> None:
    with pytest.raises(ExpressionError):
        engine.render(payload, VARIABLES, FixedFunctions(datetime(2024, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize("payload", ["''.__class__", "x.__class__.__mro__", "inputs.keys", "range", "[now]"])
def test_evaluate_never_hands_back_a_python_object(engine: ExpressionEngine, payload: str) -> None:
    with pytest.raises(ExpressionError):
        engine.evaluate(payload, VARIABLES)


def test_a_function_named_without_a_call_is_an_error_not_its_repr(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="is a function: call it with parentheses"):
        engine.render("{{ range }}", {})


def test_jinja_default_globals_are_gone(engine: ExpressionEngine) -> None:
    for name in ("cycler", "joiner", "namespace", "lipsum", "dict"):
        assert engine.evaluate(f"{name} is defined", {}) is False


def test_values_that_look_like_payloads_render_as_plain_text(engine: ExpressionEngine) -> None:
    # A variable holding template syntax is data: no implicit rendering of values.
    assert engine.render("{{ x }}", {"x": "{{ ''.__class__ }}"}) == "{{ ''.__class__ }}"


def test_the_callers_functions_are_not_reachable_from_a_template(engine: ExpressionEngine) -> None:
    functions = FixedFunctions(datetime(2024, 1, 1, tzinfo=UTC))
    for name in ("functions", "_now", "SCOPE", "scope", "environment", "context"):
        assert engine.evaluate(f"{name} is defined", {}, functions) is False
