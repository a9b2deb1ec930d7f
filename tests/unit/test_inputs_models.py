"""Flow input and output definitions: what loads, what is refused, and how the refusal reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from kestra_stream.models import inputs as models
from kestra_stream.models.inputs import (
    AnyInput,
    ArrayInput,
    BooleanInput,
    DateTimeInput,
    DurationInput,
    FileInput,
    Input,
    InputType,
    IntInput,
    MultiselectInput,
    Output,
    SelectInput,
    StringInput,
)

_ONE = TypeAdapter(AnyInput)


class _Flow(BaseModel):
    inputs: list[AnyInput]
    outputs: list[Output] = []


def load(raw: dict[str, Any]) -> Input:
    return _ONE.validate_python(raw)


def load_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        load(raw)
    return str(caught.value)


MINIMAL: dict[InputType, dict[str, Any]] = {
    InputType.SELECT: {"values": ["a"]},
    InputType.ENUM: {"values": ["a"]},
    InputType.MULTISELECT: {"values": ["a"]},
    InputType.ARRAY: {"itemType": "STRING"},
}


MODEL_OF: dict[InputType, type[Input]] = {
    InputType.STRING: models.StringInput, InputType.INT: models.IntInput, InputType.FLOAT: models.FloatInput,
    InputType.BOOLEAN: models.BooleanInput, InputType.DATETIME: models.DateTimeInput,
    InputType.DATE: models.DateInput, InputType.TIME: models.TimeInput,
    InputType.DURATION: models.DurationInput,
    InputType.FILE: models.FileInput, InputType.JSON: models.JsonInput, InputType.YAML: models.YamlInput,
    InputType.URI: models.UriInput, InputType.EMAIL: models.EmailInput, InputType.SECRET: models.SecretInput,
    InputType.SELECT: models.SelectInput, InputType.MULTISELECT: models.MultiselectInput,
    InputType.ARRAY: models.ArrayInput,
}


@pytest.mark.parametrize("type_", list(InputType))
def test_every_input_type_loads_into_the_model_of_its_type(type_: InputType) -> None:
    loaded = load({"id": "x", "type": type_.value, **MINIMAL.get(type_, {})})
    assert loaded.type is type_
    assert type(loaded) is MODEL_OF[type_.canonical]


def test_input_list_loads_as_a_field_of_a_flow_model() -> None:
    flow = _Flow.model_validate({"inputs": [{"id": "a", "type": "STRING"}, {"id": "b", "type": "INT"}],
                                 "outputs": [{"id": "o", "type": "INT", "value": "{{ inputs.b }}"}]})
    assert [type(i) for i in flow.inputs] == [StringInput, IntInput]
    assert flow.outputs[0].required is True


def test_common_properties_default_to_required_without_defaults() -> None:
    loaded = load({"id": "x", "type": "STRING"})
    assert loaded.required is True
    assert loaded.defaults is None
    assert loaded.depends_on is None


def test_camel_case_properties_are_read_and_snake_case_is_refused() -> None:
    loaded = load({"id": "x", "type": "STRING", "displayName": "X", "minLength": 2,
                   "dependsOn": {"inputs": ["y"], "condition": "{{ inputs.y }}"}})
    assert isinstance(loaded, StringInput)
    assert loaded.display_name == "X"
    assert loaded.min_length == 2
    assert loaded.depends_on is not None
    assert loaded.depends_on.inputs == ["y"]
    assert "display_name" in load_error({"id": "x", "type": "STRING", "display_name": "X"})


def test_unknown_property_is_refused() -> None:
    assert "validatr" in load_error({"id": "x", "type": "STRING", "validatr": "a+"})


def test_models_are_frozen() -> None:
    loaded = load({"id": "x", "type": "STRING"})
    with pytest.raises(ValidationError):
        loaded.required = False  # type: ignore[misc]


def test_unknown_type_names_the_known_types_and_suggests_the_closest() -> None:
    message = load_error({"id": "x", "type": "STRNG"})
    assert "unknown input type 'STRNG'; expected one of STRING, INT, FLOAT" in message
    assert "(did you mean STRING?)" in message


def test_lower_case_type_is_refused_with_the_upper_case_suggestion() -> None:
    assert "did you mean BOOLEAN?" in load_error({"id": "x", "type": "boolean"})


def test_type_far_from_every_known_type_gets_no_suggestion() -> None:
    message = load_error({"id": "x", "type": "QWXZ"})
    assert "unknown input type 'QWXZ'" in message
    assert "did you mean" not in message


def test_missing_type_is_refused_with_the_known_types() -> None:
    assert "every input needs a 'type', one of STRING" in load_error({"id": "x"})


def test_output_with_unknown_type_gets_the_same_message() -> None:
    with pytest.raises(ValidationError, match=r"unknown input type 'JSN'.*did you mean JSON\?"):
        Output.model_validate({"id": "o", "type": "JSN", "value": "{{ 1 }}"})


def test_output_value_is_required() -> None:
    with pytest.raises(ValidationError, match="value"):
        Output.model_validate({"id": "o", "type": "STRING"})


def test_deprecated_name_is_read_as_id() -> None:
    assert load({"name": "legacy", "type": "STRING"}).id == "legacy"


def test_name_and_a_different_id_together_are_refused() -> None:
    assert "keep only 'id'" in load_error({"id": "a", "name": "b", "type": "STRING"})


def test_enum_loads_as_a_select_that_behaves_as_select() -> None:
    loaded = load({"id": "x", "type": "ENUM", "values": ["A", "B"]})
    assert isinstance(loaded, SelectInput)
    assert loaded.type is InputType.ENUM
    assert loaded.kind is InputType.SELECT


def test_bool_loads_as_a_boolean_input() -> None:
    loaded = load({"id": "x", "type": "BOOL"})
    assert isinstance(loaded, BooleanInput)
    assert loaded.kind is InputType.BOOLEAN


@pytest.mark.parametrize("input_id", ["plain", "a.b", "a.b.c", "x-1_y", "9lives"])
def test_plain_and_dotted_ids_are_allowed(input_id: str) -> None:
    assert load({"id": input_id, "type": "STRING"}).id == input_id


@pytest.mark.parametrize("input_id", [".a", "-a", "a b", "a/b", ""])
def test_ids_outside_the_pattern_are_refused(input_id: str) -> None:
    assert "id" in load_error({"id": input_id, "type": "STRING"})


def test_bad_default_is_a_load_error_naming_the_input() -> None:
    message = load_error({"id": "rows", "type": "INT", "defaults": "many"})
    assert "defaults of input 'rows' is invalid: 'many' is not an integer" in message


def test_default_outside_the_options_is_a_load_error() -> None:
    assert "defaults of input 'n'" in load_error({"id": "n", "type": "INT", "max": 3, "defaults": 5})
    assert "'D' is not one of A, B" in load_error(
        {"id": "k", "type": "SELECT", "values": ["A", "B"], "defaults": "D"})


def test_bad_prefill_is_a_load_error() -> None:
    assert "prefill of input 'at'" in load_error({"id": "at", "type": "DATE", "prefill": "tomorrow"})


def test_expression_default_is_not_checked_at_load_time() -> None:
    assert load({"id": "n", "type": "INT", "defaults": "{{ 40 + 2 }}"}).defaults == "{{ 40 + 2 }}"


def test_native_yaml_defaults_are_accepted() -> None:
    loaded = load({"id": "at", "type": "DATETIME", "defaults": datetime(2024, 1, 1, tzinfo=UTC)})
    assert loaded.defaults == datetime(2024, 1, 1, tzinfo=UTC)
    assert load({"id": "d", "type": "JSON", "defaults": {"a": [1]}}).defaults == {"a": [1]}


def test_string_validator_must_be_a_valid_regex() -> None:
    assert "not a valid regular expression" in load_error({"id": "s", "type": "STRING", "validator": "a("})


def test_min_length_above_max_length_is_refused() -> None:
    assert "minLength 5 is greater than maxLength 2" in load_error(
        {"id": "s", "type": "STRING", "minLength": 5, "maxLength": 2})


def test_int_and_float_bounds_are_read_and_must_be_ordered() -> None:
    loaded = load({"id": "n", "type": "INT", "min": 1, "max": 9})
    assert isinstance(loaded, IntInput)
    assert (loaded.min, loaded.max) == (1, 9)
    assert "min 9.0 is greater than max 1.0" in load_error({"id": "n", "type": "FLOAT", "min": 9, "max": 1})


def test_duration_bounds_are_iso_durations() -> None:
    loaded = load({"id": "d", "type": "DURATION", "min": "PT1M", "max": "PT1H"})
    assert isinstance(loaded, DurationInput)
    assert loaded.min == timedelta(minutes=1)
    assert "invalid duration" in load_error({"id": "d", "type": "DURATION", "min": "5 minutes"})


def test_naive_datetime_bounds_are_read_as_utc() -> None:
    loaded = load({"id": "t", "type": "DATETIME", "after": "2024-01-01T00:00:00"})
    assert isinstance(loaded, DateTimeInput)
    assert loaded.after == datetime(2024, 1, 1, tzinfo=UTC)


def test_datetime_window_must_be_ordered() -> None:
    assert "is later than before" in load_error(
        {"id": "d", "type": "DATE", "after": "2024-02-01", "before": "2024-01-01"})


def test_select_needs_values_or_expression_but_not_both() -> None:
    assert "exactly one of 'values'" in load_error({"id": "s", "type": "SELECT"})
    assert "exactly one of 'values'" in load_error(
        {"id": "s", "type": "SELECT", "values": ["a"], "expression": "{{ [1] }}"})


def test_select_options_are_read() -> None:
    loaded = load({"id": "s", "type": "SELECT", "values": ["a"], "allowCustomValue": True, "isRadio": True,
                   "autoSelectFirst": True})
    assert isinstance(loaded, SelectInput)
    assert (loaded.allow_custom_value, loaded.is_radio, loaded.auto_select_first) == (True, True, True)


def test_numeric_select_values_are_read_as_text() -> None:
    loaded = load({"id": "s", "type": "SELECT", "values": [1, 2.5, True]})
    assert isinstance(loaded, SelectInput)
    assert loaded.values == ["1", "2.5", "true"]


def test_multiselect_reads_older_options_as_its_choices() -> None:
    loaded = load({"id": "m", "type": "MULTISELECT", "options": ["a", "b"]})
    assert isinstance(loaded, MultiselectInput)
    assert loaded.choices == ["a", "b"]


def test_multiselect_with_values_and_options_is_refused() -> None:
    message = load_error({"id": "m", "type": "MULTISELECT", "values": ["a"], "options": ["a"]})
    assert "keep 'values'" in message


def test_array_needs_an_item_type() -> None:
    assert "itemType" in load_error({"id": "a", "type": "ARRAY"})


def test_array_item_type_must_be_a_known_scalar_type() -> None:
    loaded = load({"id": "a", "type": "ARRAY", "itemType": "INT"})
    assert isinstance(loaded, ArrayInput)
    assert loaded.item_type is InputType.INT
    assert "did you mean INT?" in load_error({"id": "a", "type": "ARRAY", "itemType": "INTT"})
    assert "cannot be ARRAY" in load_error({"id": "a", "type": "ARRAY", "itemType": "ARRAY"})


def test_file_allowed_extensions_are_read() -> None:
    loaded = load({"id": "f", "type": "FILE", "allowedFileExtensions": [".csv"]})
    assert isinstance(loaded, FileInput)
    assert loaded.allowed_file_extensions == [".csv"]


def test_module_exports_every_public_name() -> None:
    for name in models.__all__:
        assert hasattr(models, name), name
