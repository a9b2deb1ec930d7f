"""One value at a time: every type from text and from native values, and every option."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter

from kestra_stream import inputs as coercion
from kestra_stream.errors import InputError
from kestra_stream.inputs import coerce_input_value, coerce_value
from kestra_stream.models.inputs import AnyInput, Input, InputType

_ONE = TypeAdapter(AnyInput)


def define(type_: str, **options: Any) -> Input:
    return _ONE.validate_python({"id": "field", "type": type_, **options})


def text(type_: InputType, value: str, item_type: InputType | None = None) -> Any:
    return coerce_value(type_, value, input_id="field", item_type=item_type, from_text=True)


def native(type_: InputType, value: Any, item_type: InputType | None = None) -> Any:
    return coerce_value(type_, value, input_id="field", item_type=item_type)


def refused(type_: InputType, value: Any, item_type: InputType | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        coerce_value(type_, value, input_id="field", item_type=item_type)
    assert caught.value.input_id == "field"
    assert str(caught.value).startswith("Invalid input 'field': ")
    return caught.value


def refused_by(definition: Input, value: Any, **kwargs: Any) -> str:
    with pytest.raises(InputError) as caught:
        coerce_input_value(definition, value, **kwargs)
    assert caught.value.input_id == "field"
    return str(caught.value)


T = InputType

FROM_TEXT: list[tuple[InputType, str, Any]] = [
    (T.STRING, "hello", "hello"),
    (T.SECRET, "s3cr3t", "s3cr3t"),
    (T.INT, "1000", 1000),
    (T.INT, " -7 ", -7),
    (T.FLOAT, "3.5", 3.5),
    (T.FLOAT, "2", 2.0),
    (T.BOOLEAN, "true", True),
    (T.BOOLEAN, "FALSE", False),
    (T.BOOLEAN, "Yes", True),
    (T.BOOLEAN, "no", False),
    (T.BOOLEAN, "1", True),
    (T.BOOL, "0", False),
    (T.DATETIME, "2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    (T.DATETIME, "2024-01-01T10:00:00+02:00", datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=2)))),
    (T.DATE, "2024-02-29", date(2024, 2, 29)),
    (T.TIME, "10:30", time(10, 30)),
    (T.TIME, "10:30:15.5", time(10, 30, 15, 500000)),
    (T.DURATION, "PT5M", timedelta(minutes=5)),
    (T.DURATION, "P1DT1H", timedelta(days=1, hours=1)),
    (T.JSON, '{"a": 1}', {"a": 1}),
    (T.JSON, "[1, 2]", [1, 2]),
    (T.YAML, "a: 1\nb: [x, y]", {"a": 1, "b": ["x", "y"]}),
    (T.URI, "https://example.com/a?b=1", "https://example.com/a?b=1"),
    (T.URI, "http://localhost:8080/x", "http://localhost:8080/x"),
    (T.EMAIL, "ada@example.com", "ada@example.com"),
    (T.SELECT, "B", "B"),
    (T.ENUM, "B", "B"),
    (T.MULTISELECT, "a,b", ["a", "b"]),
    (T.MULTISELECT, "a, b ,c", ["a", "b", "c"]),
    (T.MULTISELECT, '["a", "b"]', ["a", "b"]),
    (T.FILE, "kestra:///ns/flow/executions/e1/inputs/f/data.csv", "kestra:///ns/flow/executions/e1/inputs/f/data.csv"),
    (T.FILE, "nsfile:///data.csv", "nsfile:///data.csv"),
    (T.FILE, "file:///tmp/data.csv", "file:///tmp/data.csv"),
    (T.FILE, "https://example.com/data.csv", "https://example.com/data.csv"),
]


@pytest.mark.parametrize(("type_", "raw", "expected"), FROM_TEXT, ids=[f"{t}-{r}" for t, r, _ in FROM_TEXT])
def test_text_is_coerced_to_the_type(type_: InputType, raw: str, expected: Any) -> None:
    result = text(type_, raw)
    assert result == expected
    assert type(result) is type(expected)


def test_naive_datetime_text_is_read_as_utc() -> None:
    result = text(T.DATETIME, "2024-01-01T10:00:00")
    assert result == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(("item_type", "raw", "expected"), [
    (T.INT, "1,2,3", [1, 2, 3]),
    (T.INT, "[1, 2]", [1, 2]),
    (T.STRING, '["a,b", "c"]', ["a,b", "c"]),
    (T.BOOLEAN, "true,no", [True, False]),
    (T.DATE, "2024-01-01", [date(2024, 1, 1)]),
    (T.STRING, "", []),
])
def test_array_text_is_a_json_list_or_comma_separated_items_of_item_type(
        item_type: InputType, raw: str, expected: list[Any]) -> None:
    assert text(T.ARRAY, raw, item_type) == expected


NATIVE: list[tuple[InputType, Any, Any]] = [
    (T.STRING, 42, "42"),
    (T.STRING, True, "true"),
    (T.INT, 7, 7),
    (T.INT, 7.0, 7),
    (T.INT, "12", 12),
    (T.FLOAT, 2, 2.0),
    (T.FLOAT, 2.5, 2.5),
    (T.BOOLEAN, True, True),
    (T.BOOLEAN, 0, False),
    (T.DATETIME, datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 10, tzinfo=UTC)),
    (T.DATETIME, date(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC)),
    (T.DATE, date(2024, 1, 1), date(2024, 1, 1)),
    (T.TIME, time(8, 0), time(8, 0)),
    (T.DURATION, timedelta(seconds=30), timedelta(seconds=30)),
    (T.JSON, {"a": [1, 2]}, {"a": [1, 2]}),
    (T.JSON, '{"a": 1}', {"a": 1}),
    (T.JSON, 3, 3),
    (T.YAML, {"a": 1}, {"a": 1}),
    (T.MULTISELECT, ["a", "b"], ["a", "b"]),
    (T.MULTISELECT, [1, 2], ["1", "2"]),
    (T.SELECT, 3, "3"),
]


@pytest.mark.parametrize(("type_", "raw", "expected"), NATIVE, ids=[f"{t}-{r!r}" for t, r, _ in NATIVE])
def test_native_values_are_kept_or_converted_to_the_type(type_: InputType, raw: Any, expected: Any) -> None:
    result = native(type_, raw)
    assert result == expected
    assert type(result) is type(expected)


def test_native_array_items_are_coerced_to_item_type() -> None:
    assert native(T.ARRAY, [1, "2", 3.0], T.INT) == [1, 2, 3]
    assert native(T.ARRAY, ("PT1S",), T.DURATION) == [timedelta(seconds=1)]


def test_none_stays_none_for_every_type() -> None:
    for type_ in InputType:
        assert coerce_value(type_, None, input_id="field", item_type=T.STRING) is None


@pytest.mark.parametrize(("type_", "raw", "says"), [
    (T.INT, "not-a-number", "'not-a-number' is not an integer; expected a whole number such as 42"),
    (T.INT, "4.5", "is not an integer"),
    (T.INT, True, "is not an integer"),
    (T.INT, 4.5, "is not an integer"),
    (T.FLOAT, "pi", "'pi' is not a number; expected a number such as 3.14"),
    (T.FLOAT, "nan", "is not a number"),
    (T.FLOAT, False, "is not a number"),
    (T.BOOLEAN, "maybe", "'maybe' is not a boolean; expected true or false"),
    (T.BOOLEAN, 2, "is not a boolean"),
    (T.DATETIME, "yesterday",
     "'yesterday' is not a date-time; expected ISO-8601 such as 2024-01-31T10:00:00Z"),
    (T.DATE, "2024-13-01", "is not a date; expected ISO-8601 such as 2024-01-31"),
    (T.DATE, datetime(2024, 1, 1), "is not a date"),
    (T.TIME, "25:00", "is not a time; expected ISO-8601 such as 10:30:00"),
    (T.DURATION, "5 minutes", "'5 minutes' is not a duration; expected ISO-8601 such as PT5M"),
    (T.JSON, "{a: 1}", "is not valid JSON"),
    (T.YAML, "a: [1", "is not valid YAML"),
    (T.URI, "not a uri", "is not an absolute URI with a host; expected one such as https://example.com/path"),
    (T.URI, "relative/path", "is not an absolute URI"),
    (T.URI, "http:/bla", "is not an absolute URI with a host"),  # Kestra's InputsTest
    (T.URI, "mailto:ada@example.com", "is not an absolute URI with a host"),
    (T.EMAIL, "ada.example.com", "is not an email address; expected one such as ada@example.com"),
    (T.EMAIL, "ada@localhost", "is not an email address"),
    (T.FILE, "/tmp/data.csv", "is not a file URI; expected kestra:///"),
    (T.STRING, {"a": 1}, "is a dict; expected text"),
    (T.MULTISELECT, 5, "is not a list"),
    (T.MULTISELECT, "[a, b]", "is not a valid JSON list"),
])
def test_invalid_values_are_refused_saying_what_was_expected(type_: InputType, raw: Any, says: str) -> None:
    assert says in str(refused(type_, raw))


def test_array_item_error_names_the_item() -> None:
    assert "item [1]: 'x' is not an integer" in str(refused(T.ARRAY, ["1", "x"], T.INT))


def test_array_without_item_type_keeps_its_items_as_kestras_array_outputs_do() -> None:
    # Only a flow output reaches here without an itemType: an input must declare one (test_inputs_models).
    assert coerce_value(T.ARRAY, ["a", 1, {"k": True}], input_id="out") == ["a", 1, {"k": True}]
    assert coerce_value(T.ARRAY, '["a", 2]', input_id="out") == ["a", 2]


def test_secret_value_is_never_echoed_in_a_message() -> None:
    secret = define("SECRET", validator="[0-9]+")
    message = refused_by(secret, "hunter2")
    assert "hunter2" not in message
    assert "the given secret does not match the validator" in message
    assert "hunter2" not in str(refused(T.SECRET, ["hunter2"]))


# --- options -------------------------------------------------------------------------------------


def test_string_validator_must_match_the_whole_value() -> None:
    definition = define("STRING", validator="[a-z]+")
    assert coerce_input_value(definition, "abc") == "abc"
    assert "'abc1' does not match the validator '[a-z]+'" in refused_by(definition, "abc1")


def test_string_length_bounds() -> None:
    definition = define("STRING", minLength=2, maxLength=3)
    assert coerce_input_value(definition, "abc") == "abc"
    assert "'a' is 1 characters long; expected at least 2" in refused_by(definition, "a")
    assert "expected at most 3" in refused_by(definition, "abcd")


def test_int_bounds() -> None:
    definition = define("INT", min=1, max=10)
    assert coerce_input_value(definition, "10", from_text=True) == 10
    assert "0 is less than the minimum 1; give a value of at least 1" in refused_by(definition, 0)
    assert "11 is greater than the maximum 10" in refused_by(definition, "11")


def test_float_bounds() -> None:
    definition = define("FLOAT", min=0.5, max=1.5)
    assert coerce_input_value(definition, "1.5") == 1.5
    assert "less than the minimum 0.5" in refused_by(definition, 0.25)
    assert "greater than the maximum 1.5" in refused_by(definition, 2)


def test_duration_bounds_are_shown_as_iso_durations() -> None:
    definition = define("DURATION", min="PT1M", max="PT1H")
    assert coerce_input_value(definition, "PT30M") == timedelta(minutes=30)
    assert "PT30S is less than the minimum PT1M" in refused_by(definition, "PT30S")
    assert "PT2H is greater than the maximum PT1H" in refused_by(definition, "PT2H")


def test_datetime_window_is_inclusive() -> None:
    definition = define("DATETIME", after="2024-01-01T00:00:00Z", before="2024-12-31T00:00:00Z")
    assert coerce_input_value(definition, "2024-01-01T00:00:00Z") == datetime(2024, 1, 1, tzinfo=UTC)
    assert "is before 2024-01-01T00:00:00+00:00" in refused_by(definition, "2023-12-31T23:59:59Z")
    assert "is after 2024-12-31T00:00:00+00:00" in refused_by(definition, "2025-01-01T00:00:00")


def test_date_window() -> None:
    definition = define("DATE", after="2024-01-01", before="2024-01-31")
    assert coerce_input_value(definition, "2024-01-15") == date(2024, 1, 15)
    assert "2023-12-31 is before 2024-01-01" in refused_by(definition, "2023-12-31")
    assert "2024-02-01 is after 2024-01-31" in refused_by(definition, "2024-02-01")


def test_time_window() -> None:
    definition = define("TIME", after="09:00", before="17:00")
    assert coerce_input_value(definition, "12:00") == time(12)
    assert "08:00:00 is before 09:00:00" in refused_by(definition, "08:00")
    assert "18:00:00 is after 17:00:00" in refused_by(definition, "18:00")


def test_time_with_an_offset_against_bounds_without_one_is_refused_not_crashed() -> None:
    message = refused_by(define("TIME", after="09:00"), "10:00+02:00")
    assert "only one of them has a time-zone offset" in message


def test_select_value_must_be_one_of_values() -> None:
    definition = define("SELECT", values=["A", "B", "C"])
    assert coerce_input_value(definition, "B") == "B"
    assert str(refused_by(definition, "D")) == "Invalid input 'field': 'D' is not one of A, B, C"


def test_enum_value_must_be_one_of_values() -> None:
    assert "'D' is not one of A, B" in refused_by(define("ENUM", values=["A", "B"]), "D")


def test_select_with_custom_values_allowed_accepts_anything() -> None:
    assert coerce_input_value(define("SELECT", values=["A"], allowCustomValue=True), "Z") == "Z"


def test_select_expression_choices_are_enforced_when_given() -> None:
    definition = define("SELECT", expression="{{ kv('choices') }}")
    assert coerce_input_value(definition, "x") == "x"
    assert coerce_input_value(definition, "a", choices=["a"]) == "a"
    assert "'x' is not one of a, b" in refused_by(definition, "x", choices=["a", "b"])


def test_multiselect_every_value_must_be_one_of_values() -> None:
    definition = define("MULTISELECT", values=["a", "b", "c"])
    assert coerce_input_value(definition, "a,c", from_text=True) == ["a", "c"]
    assert "'z' is not one of a, b, c" in refused_by(definition, ["a", "z"])


def test_multiselect_older_options_are_enforced() -> None:
    assert "'z' is not one of a" in refused_by(define("MULTISELECT", options=["a"]), "z")


def test_multiselect_with_custom_values_allowed_accepts_anything() -> None:
    definition = define("MULTISELECT", values=["a"], allowCustomValue=True)
    assert coerce_input_value(definition, ["z"]) == ["z"]


def test_file_extension_must_be_allowed() -> None:
    definition = define("FILE", allowedFileExtensions=[".csv", "json"])
    assert coerce_input_value(definition, "kestra:///n/f/data.CSV") == "kestra:///n/f/data.CSV"
    assert coerce_input_value(definition, "nsfile:///a.json") == "nsfile:///a.json"
    assert "has extension .txt; expected a file ending in .csv, .json" in refused_by(definition, "nsfile:///a.txt")
    assert "has no extension" in refused_by(definition, "nsfile:///README")


def test_module_exports_every_public_name() -> None:
    for name in coercion.__all__:
        assert hasattr(coercion, name), name


def test_a_string_output_fed_a_map_or_a_list_is_its_json_text_as_in_kestra() -> None:
    assert coercion.coerce_output_value(T.STRING, {"a": 1, "b": [1, 2]}, output_id="o") == '{"a":1,"b":[1,2]}'
    assert coercion.coerce_output_value(T.STRING, ["x"], output_id="o") == '["x"]'
    assert coercion.coerce_output_value(T.INT, "42", output_id="o") == 42
