"""uuid(), id(), randomInt(), printContext(), currentEachOutput(), fromIon(); jq, numberformat, escape, raw,
className, toIon; is json; {% verbatim %}."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from kestra_stream.errors import ExpressionError
from kestra_stream.expressions import ExpressionEngine, FixedFunctions

AT = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> ExpressionEngine:
    return ExpressionEngine()


def typed(engine: ExpressionEngine, template: str, variables: dict[str, Any] | None = None) -> Any:
    return engine.render_typed(template, variables or {}, FixedFunctions(AT))


def test_uuid_is_a_version_4_uuid_and_two_calls_differ(engine: ExpressionEngine) -> None:
    first, second = typed(engine, "{{ [uuid(), uuid()] }}")
    assert uuid.UUID(first).version == 4
    assert first != second


def test_the_executor_draws_the_same_values_again_for_the_same_event(engine: ExpressionEngine) -> None:
    assert typed(engine, "{{ uuid() }}") == typed(engine, "{{ uuid() }}")


def test_id_has_kestras_shape(engine: ExpressionEngine) -> None:
    assert re.fullmatch(r"[0-9A-Za-z]{22}", typed(engine, "{{ id() }}"))


def test_random_int_stays_within_its_bounds(engine: ExpressionEngine) -> None:
    values = typed(engine, "{% set xs = [] %}{% for i in range(1, 50) %}{{ randomInt(3, 6) }},{% endfor %}")
    assert {int(v) for v in values.strip(",").split(",")} <= {3, 4, 5}
    assert typed(engine, "{{ randomInt(7, 7) }}") == 7
    with pytest.raises(ExpressionError, match="upper"):
        typed(engine, "{{ randomInt(5, 1) }}")


def test_without_functions_randomness_is_refused(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="randomness"):
        engine.render("{{ uuid() }}", {})


def test_print_context_shows_the_variables_as_json(engine: ExpressionEngine) -> None:
    assert json.loads(typed(engine, "{{ printContext() }}", {"inputs": {"a": 1}})) == {"inputs": {"a": 1}}


def test_error_logs_is_refused_where_no_worker_renders(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match=r"errorLogs\(\) is not available in this context"):
        engine.render("{{ errorLogs() }}", {}, FixedFunctions(datetime(2026, 1, 1, tzinfo=UTC)))


def test_fetch_context_gives_the_variables_as_a_map_without_set_locals(engine: ExpressionEngine) -> None:
    variables = {"inputs": {"a": 1}, "flow": {"id": "f"}}
    assert engine.render_typed("{{ fetchContext() }}", variables) == variables
    assert engine.render("{% set local = 2 %}{{ fetchContext() | keys | sort | join(',') }}",
                         variables) == "flow,inputs"
    assert engine.render("{{ fetchContext()['inputs']['a'] + 1 }}", variables) == "2"


def test_current_each_output_picks_the_current_iteration_through_its_parents(engine: ExpressionEngine) -> None:
    variables = {
        "outputs": {"inner": {"eu": {"1": {"value": "eu-1"}, "2": {"value": "eu-2"}}}},
        "parents": [{"taskrun": {"value": "eu"}}, {"taskrun": {"value": None}}],
        "taskrun": {"value": "2"},
    }
    assert typed(engine, "{{ currentEachOutput(outputs.inner).value }}", variables) == "eu-2"


def test_jq_gives_every_result_as_a_list_and_parses_json_text(engine: ExpressionEngine) -> None:
    variables = {"data": {"items": [{"n": 1}, {"n": 2}]}, "text": '{"a": {"b": true}}'}
    assert typed(engine, "{{ data | jq('.items[].n') }}", variables) == [1, 2]
    assert typed(engine, "{{ text | jq('.a.b') | first }}", variables) is True
    with pytest.raises(ExpressionError, match="jq expression"):
        typed(engine, "{{ data | jq('.[') }}", variables)


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ '{\"a\": 1}' is json }}", True),
    ("{{ '[1, 2' is json }}", False),
    ("{{ 12 is json }}", False),
])
def test_is_json(engine: ExpressionEngine, template: str, expected: bool) -> None:
    assert typed(engine, template) is expected


@pytest.mark.parametrize(("value", "pattern", "expected"), [
    (1234567.891, "#,##0.00", "1,234,567.89"),
    (3.14159, "#.##", "3.14"),
    (2.5, "0", "2"),           # half-even, as Java's DecimalFormat
    (3.5, "0", "4"),
    (7, "000", "007"),
    (0.25, "0.0#", "0.25"),
    (-1500, "#,###", "-1,500"),
])
def test_numberformat_follows_java_decimal_format(engine: ExpressionEngine, value: float, pattern: str,
                                                 expected: str) -> None:
    assert typed(engine, f"{{{{ v | numberformat('{pattern}') }}}}", {"v": value}) == expected


def test_escape_raw_and_class_name(engine: ExpressionEngine) -> None:
    assert typed(engine, "{{ '<a href=\"x\">' | escape }}") == "&lt;a href=&quot;x&quot;&gt;"
    assert typed(engine, "{{ 'a b&c' | escape('url_param') }}") == "a%20b%26c"
    assert typed(engine, "{{ '<b>' | raw }}") == "<b>"
    with pytest.raises(ExpressionError, match="strategy"):
        typed(engine, "{{ 'x' | escape('css') }}")
    assert [typed(engine, f"{{{{ {v} | className }}}}") for v in ("'s'", "1", "1.5", "true", "[1]", "{'a': 1}")] == [
        "java.lang.String", "java.lang.Integer", "java.lang.Double", "java.lang.Boolean", "java.util.ArrayList",
        "java.util.LinkedHashMap"]
    assert typed(engine, "{{ 10000000000 | className }}") == "java.lang.Long"


def test_verbatim_keeps_its_content_unrendered(engine: ExpressionEngine) -> None:
    assert engine.render("{% verbatim %}{{ inputs.x }}{% endverbatim %}={{ 1 + 1 }}", {}) == "{{ inputs.x }}=2"


def test_file_uri_names_a_namespace_file_of_the_flow(engine: ExpressionEngine) -> None:
    flow = {"flow": {"id": "f", "namespace": "company.team"}}
    assert typed(engine, "{{ fileURI('/scripts/run.py') }}", flow) == "kestra:///company/team/_files/scripts/run.py"
    with pytest.raises(ExpressionError, match=r"\.\./"):
        typed(engine, "{{ fileURI('../other/x') }}", flow)


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ taskrun.value equals 'value 2' }}", True),
    ("{{ taskrun.value equals 'value 1' }}", False),
    ("{{ 1 + 1 equals 2 and 3 equals 4 }}", False),
    ("{{ not (2 equals 3) }}", True),
    ("{{ equals }}", "a variable named equals"),
])
def test_equals_is_pebbles_word_for_double_equals(engine: ExpressionEngine, template: str, expected: Any) -> None:
    variables = {"taskrun": {"value": "value 2"}, "equals": "a variable named equals"}
    assert typed(engine, template, variables) == expected


def test_from_ion_reads_one_ion_value_as_plain_values(engine: ExpressionEngine) -> None:
    assert typed(engine, "{{ fromIon(text) }}", {"text": '{name:"a",n:2,ok:true,tags:[x,"y"],none:null.string}'}) == {
        "name": "a", "n": 2, "ok": True, "tags": ["x", "y"], "none": None}
    assert typed(engine, "{{ fromIon(text).price }}", {"text": "{price:1.5}"}) == 1.5
    assert typed(engine, "{{ fromIon(missing) }}", {"missing": None}) is None


def test_from_ion_of_text_that_is_not_ion_fails_saying_so(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="fromIon"):
        typed(engine, "{{ fromIon('{a:') }}")


def test_to_ion_writes_ion_text_that_from_ion_reads_back(engine: ExpressionEngine) -> None:
    value = {"a": 1, "b": ["x", None, True], "c": {"d": "e"}}
    text = typed(engine, "{{ value | toIon }}", {"value": value})
    assert text == '{a:1,b:["x",null,true],c:{d:"e"}}'
    assert typed(engine, "{{ fromIon(text) }}", {"text": text}) == value
    assert typed(engine, "{{ null | toIon }}") == "null"
