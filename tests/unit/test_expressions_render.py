"""Rendering, typed rendering, Kestra's variables and Pebble's operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kestra_stream.errors import ExpressionError
from kestra_stream.expressions import ExpressionEngine, FixedFunctions, default_engine

NOW = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)

VARIABLES: dict[str, Any] = {
    "inputs": {"name": "world", "rows": 600, "n": 21, "ratio": 2.0, "maybe": None, "tags": ["a", "b"]},
    "outputs": {
        "extract": {"value": "42", "uri": "kestra:///ns/flow/file.csv"},
        "check-data-quality": {"vars": {"row_count": 501}},
        "concatenate": {"values": {"message": "joined"}},
        "item": {"a": {"value": "A"}, "b": {"value": "B"}},
    },
    "vars": {"first": "one", "second": "{{ vars.first }}-two", "env_name": "prod"},
    "flow": {"id": "hello", "namespace": "company.team", "revision": 3},
    "execution": {"id": "4wjtkzwVGBM9yKnjm3yv8r", "startDate": NOW, "originalId": "4wjtkzwVGBM9yKnjm3yv8r"},
    "task": {"id": "log", "type": "io.kestra.plugin.core.log.Log"},
    "taskrun": {"id": "tr1", "startDate": NOW, "attemptsCount": 1, "parentId": "tr0", "value": "b",
                "iteration": 2},
    "parent": {"taskrun": {"value": "outer"}},
    "parents": [{"taskrun": {"value": "outer"}}],
    "labels": {"team": "data"},
    "trigger": {"date": NOW, "body": {"id": 7}},
    "envs": {"region": "eu"},
    "globals": {"owner": "ops"},
}


@pytest.fixture
def engine() -> ExpressionEngine:
    return ExpressionEngine()


def render(engine: ExpressionEngine, template: str) -> str:
    return engine.render(template, VARIABLES, FixedFunctions(NOW))


def typed(engine: ExpressionEngine, template: Any) -> Any:
    return engine.render_typed(template, VARIABLES, FixedFunctions(NOW))


# --- typed rendering -----------------------------------------------------------------------------

def test_lone_comparison_renders_to_a_native_boolean(engine: ExpressionEngine) -> None:
    assert typed(engine, "{{ inputs.rows > 500 }}") is True


def test_lone_list_literal_renders_to_a_native_list_with_blanks_around(engine: ExpressionEngine) -> None:
    assert typed(engine, "  {{ [1, 2] }} \n") == [1, 2]


def test_lone_variable_keeps_its_type(engine: ExpressionEngine) -> None:
    assert typed(engine, "{{ inputs.n }}") == 21
    assert typed(engine, "{{ inputs.n * 2 }}") == 42
    assert typed(engine, "{{ inputs.maybe }}") is None


def test_text_around_an_expression_renders_to_text(engine: ExpressionEngine) -> None:
    assert typed(engine, "n={{ inputs.n }}") == "n=21"
    assert typed(engine, "{{ inputs.n }}{{ inputs.n }}") == "2121"


def test_typed_rendering_recurses_into_lists_and_maps_keys_included(engine: ExpressionEngine) -> None:
    value = {"{{ flow.id }}": ["{{ inputs.n }}", 3, {"k": "{{ inputs.rows > 1 }}"}], "plain": True}
    assert typed(engine, value) == {"hello": [21, 3, {"k": True}], "plain": True}


def test_static_text_is_returned_unchanged_without_compiling(engine: ExpressionEngine) -> None:
    text = "no expression { here } %"
    assert typed(engine, text) is text
    assert engine.render(text, {}) is text
    assert engine.compilations == 0


def test_evaluate_returns_the_native_value_of_a_bare_expression(engine: ExpressionEngine) -> None:
    assert engine.evaluate("outputs['check-data-quality'].vars.row_count > 500", VARIABLES) is True
    assert engine.evaluate("inputs.tags", VARIABLES) == ["a", "b"]


# --- printing ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ("{{ true }} {{ false }}", "true false"),
    ("[{{ inputs.maybe }}]", "[]"),
    ("{{ null }}", ""),
    ("{{ inputs.ratio }}", "2.0"),
    ("{{ inputs.tags }}", '["a","b"]'),
    ("{{ {'a': 1, 'b': [true, null]} }}", '{"a":1,"b":[true,null]}'),
    ("{{ execution.startDate }}", "2024-05-01T10:00:00.123Z"),
    ("{{ 'a' ~ true ~ 1 }}", "atrue1"),
])
def test_values_print_as_kestra_prints_them(engine: ExpressionEngine, template: str, expected: str) -> None:
    assert render(engine, template) == expected


# --- variables -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ("{{ inputs.name }}", "world"),
    ("{{ outputs.extract.value }}", "42"),
    ("{{ outputs['check-data-quality'].vars.row_count }}", "501"),
    ("{{ outputs.concatenate.values.message }}", "joined"),
    ("{{ outputs.item['b'].value }}", "B"),
    ("{{ outputs.item[taskrun.value].value }}", "B"),
    ("{{ vars.first }}", "one"),
    ("{{ flow.id }} {{ flow.namespace }} {{ flow.revision }}", "hello company.team 3"),
    ("{{ execution.id }} {{ execution.originalId }}", "4wjtkzwVGBM9yKnjm3yv8r 4wjtkzwVGBM9yKnjm3yv8r"),
    ("{{ task.id }} {{ task.type }}", "log io.kestra.plugin.core.log.Log"),
    ("{{ taskrun.id }} {{ taskrun.attemptsCount }} {{ taskrun.parentId }} {{ taskrun.iteration }}",
     "tr1 1 tr0 2"),
    ("{{ taskrun.startDate }}", "2024-05-01T10:00:00.123Z"),
    ("{{ parent.taskrun.value }} {{ parents[0].taskrun.value }}", "outer outer"),
    ("{{ labels.team }} {{ trigger.body.id }} {{ envs.region }} {{ globals.owner }}", "data 7 eu ops"),
    ("{{ trigger['date'] }}", "2024-05-01T10:00:00.123Z"),
])
def test_every_kestra_variable_family_is_reachable(engine: ExpressionEngine, template: str,
                                                   expected: str) -> None:
    assert render(engine, template) == expected


def test_missing_variable_raises_naming_it_and_the_existing_keys(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as caught:
        render(engine, "Hello {{ inputs.nme }}")
    assert "variable 'inputs.nme' is not defined" in str(caught.value)
    assert "name, rows" in str(caught.value)
    assert caught.value.expression == "Hello {{ inputs.nme }}"


def test_missing_top_level_variable_raises(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="variable 'nothing' is not defined"):
        render(engine, "{{ nothing }}")


def test_chained_access_on_a_missing_value_names_the_first_missing_part(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match=r"variable 'outputs.nope' is not defined"):
        render(engine, "{{ outputs.nope.value.deeper }}")


@pytest.mark.parametrize("template", [
    "{{ inputs.nme | upper }}", "{{ inputs.nme > 3 }}", "{% if inputs.nme %}x{% endif %}",
    "{% for x in inputs.nme %}{% endfor %}", "{{ inputs.nme ~ 'x' }}", "{{ inputs.tags[5] }}",
    "{{ 'a' contains inputs.nme }}",
])
def test_using_a_missing_value_in_any_way_raises(engine: ExpressionEngine, template: str) -> None:
    with pytest.raises(ExpressionError, match="is not defined"):
        render(engine, template)


def test_evaluate_of_a_missing_value_raises(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match=r"'inputs\.nope' is not defined"):
        engine.evaluate("inputs.nope", VARIABLES)
    with pytest.raises(ExpressionError, match=r"'inputs\.nope' is not defined"):
        typed(engine, "{{ [1, inputs.nope] }}")


# --- operators -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ("{{ inputs.nme ?? 'fallback' }}", "fallback"),
    ("{{ inputs.maybe ?? 'was null' }}", "was null"),
    ("{{ inputs.name ?? 'unused' }}", "world"),
    ("{{ inputs.a ?? inputs.b ?? 'c' }}", "c"),
    ("{{ outputs.nope.value.x ?? 'deep' }}", "deep"),
    ("{{ inputs.nme ?? 'x' | upper }}", "X"),
    ("{{ inputs.maybe ??? 'only undefined' }}", ""),
    ("{{ inputs.nme ??? 'only undefined' }}", "only undefined"),
    ("{{ (inputs.nme | upper) ?? 'failed left side' }}", "failed left side"),
    ("{{ 'a ?? b contains c ? d : e' }}", "a ?? b contains c ? d : e"),
    ("{{ \"x ?? y\" ?? 'z' }}", "x ?? y"),
])
def test_null_coalescing(engine: ExpressionEngine, template: str, expected: str) -> None:
    assert render(engine, template) == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("'hello world' contains 'lo w'", True),
    ("'hello' contains 'z'", False),
    ("inputs.tags contains 'b'", True),
    ("inputs.tags contains ['a', 'b']", True),
    ("inputs contains 'rows'", True),
    ("inputs contains 'nope'", False),
    ("not (inputs.tags contains 'z')", True),
    ("not inputs.tags contains 'z'", True),
    ("inputs.tags contains 'a' and inputs.rows > 1", True),
])
def test_contains(engine: ExpressionEngine, expression: str, expected: bool) -> None:
    assert engine.evaluate(expression, VARIABLES) is expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("inputs.rows > 500 ? 'big' : 'small'", "big"),
    ("inputs.rows < 500 ? 'big' : 'small'", "small"),
    ("inputs.n == 1 ? 'one' : inputs.n == 21 ? 'twenty-one' : 'other'", "twenty-one"),
    ("{'k': inputs.n > 1 ? 'y' : 'n'}", {"k": "y"}),
    ("'a' ~ 'b' ~ inputs.n", "ab21"),
    ("inputs.n == 21 and not (inputs.rows < 1) or false", True),
    ("inputs.nme is defined", False),
    ("inputs.name is defined", True),
    ("inputs.nme is not defined", True),
    ("inputs.maybe is null", True),
    ("inputs.nme is null", True),
    ("inputs.name is not null", True),
    ("inputs.maybe is none", True),
    ("inputs.nme is empty", True),
    ("'  ' is empty", True),
    ("[] is empty", True),
    ("inputs.tags is empty", False),
    ("inputs.n is odd", True),
    ("inputs.rows is even", True),
    ("1..3", [1, 2, 3]),
    ("null", None),
    ("7 / 2", 3.5),
    ("7 // 2", 3),
    ("7 % 2", 1),
])
def test_pebble_operators(engine: ExpressionEngine, expression: str, expected: Any) -> None:
    assert engine.evaluate(expression, VARIABLES) == expected


def test_tags_speak_pebble_elseif_and_zero_based_loop_index(engine: ExpressionEngine) -> None:
    template = ("{% for t in inputs.tags %}{{ loop.index }}:{{ t }}{% if loop.last %}.{% endif %}{% endfor %}"
                "{% if inputs.n > 100 %}big{% elseif inputs.n > 10 %}medium{% else %}small{% endif %}")
    assert render(engine, template) == "0:a1:b.medium"


def test_raw_blocks_are_not_rendered(engine: ExpressionEngine) -> None:
    assert render(engine, "{% raw %}{{ inputs.name }}{% endraw %}") == "{{ inputs.name }}"


# --- syntax check --------------------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "{{ inputs.x | }}", "{{ foo( }}", "{{ inputs.x ? 'a' }}", "{% if x %}no end", "{{ 'unclosed }}",
    "{{ inputs.x ?? }}",
])
def test_check_rejects_bad_syntax_quoting_the_text(engine: ExpressionEngine, template: str) -> None:
    with pytest.raises(ExpressionError, match="invalid expression syntax") as caught:
        engine.check(template)
    assert caught.value.expression == template


def test_check_accepts_good_syntax_without_variables(engine: ExpressionEngine) -> None:
    engine.check("{{ outputs['a-b'].value ?? inputs.x | default('y') }} {% if a contains b %}{% endif %}")
    engine.check("plain text")


def test_evaluate_rejects_trailing_tokens(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="after the expression"):
        engine.evaluate("inputs.n inputs.n", VARIABLES)


# --- cache ---------------------------------------------------------------------------------------

def test_rendering_the_same_template_twice_compiles_once(engine: ExpressionEngine) -> None:
    render(engine, "{{ inputs.name }}!")
    render(engine, "{{ inputs.name }}!")
    assert engine.compilations == 1
    info = engine.cache_info()
    assert (info.hits, info.misses, info.size) == (1, 1, 1)


def test_cache_evicts_the_least_recently_used_source() -> None:
    engine = ExpressionEngine(cache_size=2)
    for template in ("{{ 1 }}", "{{ 2 }}", "{{ 1 }}", "{{ 3 }}", "{{ 1 }}", "{{ 2 }}"):
        engine.render(template, {})
    # "{{ 2 }}" was evicted by "{{ 3 }}" and compiled again; "{{ 1 }}" stayed hot.
    assert engine.compilations == 4
    assert engine.cache_info().size == 2


def test_default_engine_is_one_process_wide_instance() -> None:
    assert default_engine() is default_engine()


def test_public_face_exports_exactly_the_engine_api() -> None:
    import kestra_stream.expressions as expressions

    assert sorted(expressions.__all__) == [
        "CacheInfo", "ExpressionEngine", "FixedFunctions", "Functions", "default_engine", "is_truthy",
    ]
    for name in expressions.__all__:
        assert getattr(expressions, name) is not None
    assert isinstance(FixedFunctions(NOW), expressions.Functions)
