"""A whole execution's inputs: required, defaults, dependsOn, expressions, dotted ids, many errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from jinja2 import StrictUndefined, TemplateError
from jinja2.nativetypes import NativeEnvironment
from pydantic import TypeAdapter

from kestra_stream.errors import ExpressionError, InputError
from kestra_stream.inputs import InputErrors, coerce_inputs, resolution_order
from kestra_stream.models.inputs import AnyInput, Input

_MANY = TypeAdapter(list[AnyInput])
_ENV = NativeEnvironment(undefined=StrictUndefined)


def define(*raw: dict[str, Any]) -> list[Input]:
    return list(_MANY.validate_python(list(raw)))


class Recorder:
    """A real (jinja2) renderer that also remembers what it was asked to render."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, template: str, variables: Mapping[str, Any]) -> Any:
        self.calls.append((template, dict(variables)))
        try:
            return _ENV.from_string(template).render(**variables)
        except TemplateError as err:
            raise ExpressionError(template, str(err)) from err


def test_given_values_are_typed_and_undeclared_keys_ignored() -> None:
    definitions = define({"id": "rows", "type": "INT"}, {"id": "go", "type": "BOOLEAN"})
    result = coerce_inputs(definitions, {"rows": "1000", "go": "yes", "other": "x"}, from_text=True)
    assert result == {"rows": 1000, "go": True}


def test_missing_required_input_without_defaults_is_an_error_saying_the_fix() -> None:
    with pytest.raises(InputError) as caught:
        coerce_inputs(define({"id": "rows", "type": "INT"}), {})
    assert caught.value.input_id == "rows"
    assert "Invalid input 'rows': a value is required but none was given" in str(caught.value)
    assert "declare 'defaults' or 'required: false'" in str(caught.value)
    assert "--input" not in str(caught.value)  # the same message reaches API clients, who have no such option


def test_missing_optional_input_is_present_as_none() -> None:
    assert coerce_inputs(define({"id": "note", "type": "STRING", "required": False}), {}) == {"note": None}


def test_none_counts_as_missing() -> None:
    definitions = define({"id": "n", "type": "INT", "defaults": 3})
    assert coerce_inputs(definitions, {"n": None}) == {"n": 3}


def test_defaults_fill_missing_inputs_and_are_coerced() -> None:
    definitions = define({"id": "n", "type": "INT", "defaults": "5"},
                         {"id": "d", "type": "DURATION", "defaults": "PT1M"},
                         {"id": "j", "type": "JSON", "defaults": '{"a": 1}'})
    result = coerce_inputs(definitions, {}, from_text=True)
    assert result["n"] == 5
    assert result["d"].total_seconds() == 60
    assert result["j"] == {"a": 1}


def test_given_value_wins_over_defaults() -> None:
    assert coerce_inputs(define({"id": "name", "type": "STRING", "defaults": "World"}),
                         {"name": "Kafka"}) == {"name": "Kafka"}


def test_empty_text_for_a_non_text_type_counts_as_missing() -> None:
    definitions = define({"id": "n", "type": "INT", "defaults": 2}, {"id": "s", "type": "STRING"})
    assert coerce_inputs(definitions, {"n": "", "s": ""}, from_text=True) == {"n": 2, "s": ""}


def test_empty_text_from_a_native_body_is_still_checked() -> None:
    with pytest.raises(InputError, match="'' is not an integer"):
        coerce_inputs(define({"id": "n", "type": "INT", "defaults": 2}), {"n": ""})


def test_expression_defaults_are_rendered_with_the_inputs_resolved_so_far() -> None:
    render = Recorder()
    definitions = define({"id": "a", "type": "INT"},
                         {"id": "b", "type": "INT", "defaults": "{{ inputs.a * 2 }}"})
    assert coerce_inputs(definitions, {"a": "21"}, from_text=True, render=render) == {"a": 21, "b": 42}
    assert render.calls == [("{{ inputs.a * 2 }}", {"inputs": {"a": 21}})]


def test_expression_defaults_are_left_as_text_without_a_renderer() -> None:
    definitions = define({"id": "b", "type": "INT", "defaults": "{{ 1 + 1 }}"})
    assert coerce_inputs(definitions, {}) == {"b": "{{ 1 + 1 }}"}


def test_rendered_default_of_the_wrong_type_names_the_input() -> None:
    definitions = define({"id": "b", "type": "INT", "defaults": "{{ 'many' }}"})
    with pytest.raises(InputError, match="Invalid input 'b': 'many' is not an integer"):
        coerce_inputs(definitions, {}, render=Recorder())


def test_depends_on_resolves_dependencies_first_whatever_the_declaration_order() -> None:
    render = Recorder()
    definitions = define(
        {"id": "detail", "type": "STRING", "required": False,
         "dependsOn": {"inputs": ["mode"], "condition": "{{ inputs.mode == 'advanced' }}"}},
        {"id": "mode", "type": "SELECT", "values": ["simple", "advanced"]},
    )
    result = coerce_inputs(definitions, {"mode": "advanced", "detail": "x"}, render=render)
    assert result == {"detail": "x", "mode": "advanced"}
    assert list(result) == ["detail", "mode"]
    assert render.calls[0][1] == {"inputs": {"mode": "advanced"}}


def test_input_whose_condition_renders_false_is_skipped_even_if_required() -> None:
    definitions = define(
        {"id": "mode", "type": "SELECT", "values": ["simple", "advanced"]},
        {"id": "detail", "type": "INT",
         "dependsOn": {"inputs": ["mode"], "condition": "{{ inputs.mode == 'advanced' }}"}},
    )
    result = coerce_inputs(definitions, {"mode": "simple", "detail": "not checked"}, render=Recorder())
    assert result == {"mode": "simple", "detail": None}


def test_condition_rendering_to_the_text_false_skips_the_input() -> None:
    definitions = define({"id": "x", "type": "INT", "dependsOn": {"condition": "false"}})
    assert coerce_inputs(definitions, {}, render=lambda template, variables: "false") == {"x": None}


def test_condition_is_taken_as_true_without_a_renderer() -> None:
    definitions = define({"id": "x", "type": "INT", "dependsOn": {"condition": "{{ false }}"}})
    assert coerce_inputs(definitions, {"x": 1}) == {"x": 1}


def test_condition_that_cannot_render_is_an_input_error() -> None:
    definitions = define({"id": "x", "type": "INT", "dependsOn": {"condition": "{{ inputs.nope.deeper }}"}})
    with pytest.raises(InputError, match=r"Invalid input 'x': its dependsOn\.condition"):
        coerce_inputs(definitions, {"x": 1}, render=Recorder())


def test_input_depending_on_an_invalid_input_is_not_reported_twice() -> None:
    definitions = define({"id": "a", "type": "INT"},
                         {"id": "b", "type": "INT", "dependsOn": {"inputs": ["a"]}})
    with pytest.raises(InputError) as caught:
        coerce_inputs(definitions, {"a": "x"})
    assert not isinstance(caught.value, InputErrors)
    assert caught.value.input_id == "a"


def test_depends_on_an_undeclared_input_is_an_error() -> None:
    definitions = define({"id": "b", "type": "INT", "dependsOn": {"inputs": ["ghost"]}})
    with pytest.raises(InputError, match="dependsOn names 'ghost', which is not an input of this flow"):
        coerce_inputs(definitions, {"b": 1})


def test_depends_on_cycle_is_an_error_showing_the_cycle() -> None:
    definitions = define({"id": "a", "type": "INT", "dependsOn": {"inputs": ["b"]}},
                         {"id": "b", "type": "INT", "dependsOn": {"inputs": ["a"]}})
    with pytest.raises(InputError, match=r"cycle \(a -> b -> a\)"):
        coerce_inputs(definitions, {"a": 1, "b": 2})


def test_select_expression_computes_the_allowed_values() -> None:
    definitions = define({"id": "env", "type": "SELECT", "values": ["eu", "us"]},
                         {"id": "host", "type": "SELECT",
                          "expression": "{{ [inputs.env ~ '-1', inputs.env ~ '-2'] }}"})
    assert coerce_inputs(definitions, {"env": "eu", "host": "eu-2"}, render=Recorder()) == {
        "env": "eu", "host": "eu-2"}
    with pytest.raises(InputError, match="'us-1' is not one of eu-1, eu-2"):
        coerce_inputs(definitions, {"env": "eu", "host": "us-1"}, render=Recorder())


def test_multiselect_expression_may_render_a_json_array_text() -> None:
    definitions = define({"id": "m", "type": "MULTISELECT", "expression": "{{ '[\"a\", \"b\"]' }}"})
    assert coerce_inputs(definitions, {"m": "b"}, from_text=True, render=Recorder()) == {"m": ["b"]}


def test_select_expression_that_is_not_a_list_is_an_error() -> None:
    definitions = define({"id": "s", "type": "SELECT", "expression": "{{ 5 }}"})
    with pytest.raises(InputError, match="rendered 5; expected a list of values"):
        coerce_inputs(definitions, {"s": "5"}, render=Recorder())


def test_every_invalid_input_is_reported_at_once_in_declaration_order() -> None:
    definitions = define({"id": "rows", "type": "INT"}, {"id": "ok", "type": "STRING"},
                         {"id": "kind", "type": "SELECT", "values": ["A", "B", "C"]},
                         {"id": "must", "type": "DATE"})
    with pytest.raises(InputErrors) as caught:
        coerce_inputs(definitions, {"kind": "D", "rows": "not-a-number", "ok": "fine"}, from_text=True)
    error = caught.value
    assert isinstance(error, InputError)
    assert [e.input_id for e in error.errors] == ["rows", "kind", "must"]
    message = str(error)
    assert message.startswith("3 inputs are invalid:")
    assert ("Invalid input 'rows': 'not-a-number' is not an integer; "
            "expected a whole number such as 42") in message
    assert "Invalid input 'kind': 'D' is not one of A, B, C" in message
    assert "Invalid input 'must': a value is required" in message


def test_dotted_ids_produce_nested_mappings() -> None:
    definitions = define({"id": "db.host", "type": "STRING"},
                         {"id": "db.port", "type": "INT", "defaults": 5432},
                         {"id": "top", "type": "BOOLEAN", "defaults": False})
    assert coerce_inputs(definitions, {"db.host": "localhost"}) == {
        "db": {"host": "localhost", "port": 5432}, "top": False}


def test_dotted_ids_read_nested_raw_values_too() -> None:
    definitions = define({"id": "db.port", "type": "INT"})
    assert coerce_inputs(definitions, {"db": {"port": "5432"}}) == {"db": {"port": 5432}}


def test_dotted_inputs_are_nested_when_rendering_later_ones() -> None:
    render = Recorder()
    definitions = define({"id": "db.port", "type": "INT"},
                         {"id": "url", "type": "STRING", "defaults": "db:{{ inputs.db.port }}"})
    assert coerce_inputs(definitions, {"db.port": 1}, render=render)["url"] == "db:1"


def test_an_id_nested_under_another_input_is_refused() -> None:
    definitions = define({"id": "db", "type": "STRING"}, {"id": "db.port", "type": "INT"})
    with pytest.raises(InputError, match="nested under the input 'db'"):
        coerce_inputs(definitions, {})


def test_duplicate_ids_are_refused() -> None:
    definitions = define({"id": "a", "type": "STRING"}, {"id": "a", "type": "INT"})
    with pytest.raises(InputError, match="declared twice"):
        coerce_inputs(definitions, {})


def test_native_body_keeps_native_values() -> None:
    definitions = define({"id": "n", "type": "INT"}, {"id": "j", "type": "JSON"},
                         {"id": "tags", "type": "ARRAY", "itemType": "STRING"})
    assert coerce_inputs(definitions, {"n": 3, "j": {"k": [1]}, "tags": ["a", "b"]}) == {
        "n": 3, "j": {"k": [1]}, "tags": ["a", "b"]}


def test_legacy_named_enum_flow_inputs_resolve() -> None:
    definitions = define({"name": "kind", "type": "ENUM", "values": ["A", "B"], "defaults": "A"})
    assert coerce_inputs(definitions, {}) == {"kind": "A"}


def test_resolution_order_puts_dependencies_first_and_keeps_declaration_order_otherwise() -> None:
    definitions = define({"id": "c", "type": "INT", "dependsOn": {"inputs": ["b"]}},
                         {"id": "a", "type": "INT"}, {"id": "b", "type": "INT"})
    assert [d.id for d in resolution_order(definitions)] == ["b", "c", "a"]
