"""Kestra's filters and functions, Java date patterns included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kestra_stream.errors import ExpressionError
from kestra_stream.expressions import ExpressionEngine, FixedFunctions

NOW = datetime(2024, 5, 1, 14, 5, 9, 123456, tzinfo=UTC)

VARIABLES: dict[str, Any] = {
    "inputs": {"name": "hello world", "csv": "a,b,,c,,", "n": -3, "price": 2.345, "text": "42",
               "items": [3, 1, 2], "map": {"b": 2, "a": 1}, "when": "2024-01-15T08:30:00Z",
               "lines": "one\ntwo", "quote": "it's \"q\""},
    "vars": {"tpl": "{{ inputs.n }} items", "deeper": "{{ render(vars.tpl) }}!",
             "loop": "{{ render(vars.loop) }}"},
}


class RecordingFunctions(FixedFunctions):
    """A worker-like Functions: real answers for I/O, a fixed clock."""

    def secret(self, name: str) -> str:
        return f"s3cr3t-{name}"

    def kv(self, key: str, namespace: str | None = None, error_on_missing: bool = True) -> Any:
        return {"key": key, "namespace": namespace, "error_on_missing": error_on_missing}

    def read(self, uri: str) -> str:
        return f"content of {uri}"

    def file_size(self, uri: str) -> int:
        return len(uri)


@pytest.fixture(scope="module")
def engine() -> ExpressionEngine:
    return ExpressionEngine()


def render(engine: ExpressionEngine, template: str) -> str:
    return engine.render(template, VARIABLES, RecordingFunctions(NOW))


def evaluate(engine: ExpressionEngine, expression: str) -> Any:
    return engine.evaluate(expression, VARIABLES, RecordingFunctions(NOW))


# --- dates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ("yyyy-MM-dd", "2024-05-01"),
    ("HH:mm:ss", "14:05:09"),
    ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-05-01T14:05:09.123Z"),
    ("EEE, dd MMM yyyy", "Wed, 01 May 2024"),
    ("EEEE d MMMM yy", "Wednesday 1 May 24"),
    ("h:mm a", "2:05 PM"),
    ("yyyyMMddHHmmssSSSSSS", "20240501140509123456"),
    ("D 'day''s' Q", "122 day's 2"),
    ("iso", "2024-05-01T14:05:09.123456Z"),
    ("iso_sec", "2024-05-01T14:05:09Z"),
    ("sql", "2024-05-01 14:05:09.123456"),
    ("iso_date", "2024-05-01Z"),
    ("iso_local_date", "2024-05-01"),
    ("iso_instant", "2024-05-01T14:05:09.123456Z"),
])
def test_date_formats_with_java_patterns_and_named_formats(engine: ExpressionEngine, pattern: str,
                                                          expected: str) -> None:
    assert evaluate(engine, f"now() | date({pattern!r})") == expected


def test_date_converts_to_the_given_time_zone(engine: ExpressionEngine) -> None:
    assert evaluate(engine, "now() | date('yyyy-MM-dd HH:mm XXX', timeZone='Europe/Paris')") == \
        "2024-05-01 16:05 +02:00"
    assert evaluate(engine, "now(timeZone='Asia/Kolkata') | date('HH:mm Z')") == "19:35 +0530"


def test_date_reads_iso_text_and_existing_formats(engine: ExpressionEngine) -> None:
    assert evaluate(engine, "inputs.when | date('dd/MM/yyyy HH:mm')") == "15/01/2024 08:30"
    assert evaluate(engine, "'15/01/2024' | date('yyyy-MM-dd', existingFormat='dd/MM/yyyy')") == "2024-01-15"
    assert evaluate(engine, "1700000000 | date('yyyy-MM-dd HH:mm:ss')") == "2023-11-14 22:13:20"


def test_date_with_unparseable_text_says_how_to_fix(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="existingFormat"):
        evaluate(engine, "'15/01/2024' | date('yyyy')")


@pytest.mark.parametrize(("amount", "unit", "expected"), [
    (30, "SECONDS", "2024-05-01T14:05:39.123456Z"),
    (-5, "MINUTES", "2024-05-01T14:00:09.123456Z"),
    (10, "HOURS", "2024-05-02T00:05:09.123456Z"),
    (-1, "DAYS", "2024-04-30T14:05:09.123456Z"),
    (2, "WEEKS", "2024-05-15T14:05:09.123456Z"),
    (10, "MONTHS", "2025-03-01T14:05:09.123456Z"),
    (1, "YEARS", "2025-05-01T14:05:09.123456Z"),
])
def test_date_add_units(engine: ExpressionEngine, amount: int, unit: str, expected: str) -> None:
    assert evaluate(engine, f"now() | dateAdd({amount}, {unit!r})") == expected


def test_date_add_then_date_chains(engine: ExpressionEngine) -> None:
    assert render(engine, "{{ now() | dateAdd(-1, 'DAYS') | date('yyyy-MM-dd') }}") == "2024-04-30"


def test_date_add_rejects_unknown_units(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="unknown dateAdd unit 'FORTNIGHTS'"):
        evaluate(engine, "now() | dateAdd(1, 'FORTNIGHTS')")


def test_timestamp_gives_epoch_seconds(engine: ExpressionEngine) -> None:
    assert evaluate(engine, "inputs.when | timestamp") == 1705307400
    assert evaluate(engine, "inputs.when | timestampMilli") == 1705307400000


def test_now_is_timezone_aware_and_comes_from_functions(engine: ExpressionEngine) -> None:
    value = evaluate(engine, "now()")
    assert value == NOW and value.tzinfo is not None
    naive = engine.evaluate("now()", {}, FixedFunctions(datetime(2024, 1, 1)))
    assert naive.utcoffset() == timedelta(0)
    paris = engine.evaluate("now(timeZone='Europe/Paris')", {}, FixedFunctions(NOW))
    assert paris.utcoffset() == timedelta(hours=2) and paris == NOW


def test_now_without_functions_refuses_to_guess_a_clock(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="now\\(\\) needs a clock"):
        engine.render("{{ now() }}", {})


def test_offsets_print_as_java_does(engine: ExpressionEngine) -> None:
    moment = datetime(2024, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert engine.render("{{ d }}", {"d": moment}) == "2024-05-01T09:00:00-05:00"
    assert engine.evaluate("d | date('XXX xx X')", {"d": moment}) == "-05:00 -0500 -05"


# --- text filters --------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("inputs.name | upper", "HELLO WORLD"),
    ("'ABC' | lower", "abc"),
    ("'hello World' | capitalize", "Hello World"),
    ("inputs.name | title", "Hello World"),
    ("'  x ' | trim", "x"),
    ("inputs.name | length", 11),
    ("inputs.map | length", 2),
    ("'Héllo, Wörld! 2024' | slugify", "hello-world-2024"),
    ("inputs.csv | split(',')", ["a", "b", "", "c"]),
    ("inputs.csv | split(',', 2)", ["a", "b,,c,,"]),
    ("inputs.items | join('-')", "3-1-2"),
    ("[true, null, 1] | join(',')", "true,,1"),
    ("'a-b-a' | replace({'a': 'x', 'b': 'y'})", "x-y-x"),
    ("'a-b-a' | replace('a', 'z')", "z-b-z"),
    ("'a1b22' | replace({'[0-9]+': '#'}, regexp=true)", "a#b#"),
    ("'path/to/file.csv' | substringBefore('/')", "path"),
    ("'path/to/file.csv' | substringAfter('/')", "to/file.csv"),
    ("'path/to/file.csv' | substringBeforeLast('/')", "path/to"),
    ("'path/to/file.csv' | substringAfterLast('/')", "file.csv"),
    ("'abc' | substringAfter('z')", ""),
    ("'abc' | substringBefore('z')", "abc"),
    ("'kestra' | startsWith('kes')", True),
    ("'kestra' | endsWith('kes')", False),
    ("'hello' | base64encode", "aGVsbG8="),
    ("'aGVsbG8=' | base64decode", "hello"),
    ("'a b&c~*' | urlencode", "a+b%26c%7E*"),
    ("'a+b%26c' | urldecode", "a b&c"),
    ("'abc' | sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("inputs.lines | indent(2)", "one\n  two"),
    ("inputs.lines | nindent(2)", "\n  one\n  two"),
    ("inputs.n | string", "-3"),
    ("true | string", "true"),
    ("'The quick brown fox' | abbreviate(10)", "The qui..."),
    ("'short' | abbreviate(10)", "short"),
    ("inputs.quote | escapeChar('single')", "it\\'s \"q\""),
    ("inputs.quote | escapeChar('double')", "it's \\\"q\\\""),
    ("inputs.quote | escapeChar('shell')", "it'\\''s \"q\""),
])
def test_text_filters(engine: ExpressionEngine, expression: str, expected: Any) -> None:
    assert evaluate(engine, expression) == expected


# --- numbers, collections, JSON ------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("inputs.text | number", 42),
    ("'2.5' | number", 2.5),
    ("'7' | number('FLOAT')", 7.0),
    ("inputs.text | number + 1", 43),
    ("inputs.n | abs", 3),
    ("inputs.price | round", 2),
    ("inputs.price | round(2)", 2.35),
    ("2.5 | round", 3),
    ("inputs.items | first", 3),
    ("inputs.items | last", 2),
    ("'abc' | first", "a"),
    ("inputs.map | keys", ["b", "a"]),
    ("inputs.map | values", [2, 1]),
    ("inputs.items | sort", [1, 2, 3]),
    ("inputs.items | rsort", [3, 2, 1]),
    ("inputs.items | reverse", [2, 1, 3]),
    ("'abc' | reverse", "cba"),
    ("inputs.items | slice(1, 3)", [1, 2]),
    ("'kestra' | slice(1, 3)", "es"),
    ("inputs.items | merge([4])", [3, 1, 2, 4]),
    ("inputs.map | merge({'c': 3})", {"b": 2, "a": 1, "c": 3}),
    ("inputs.map | toJson", '{"b":2,"a":1}'),
    ("now() | json", '"2024-05-01T14:05:09.123456Z"'),
    ("inputs.nope | default('dflt')", "dflt"),
    ("'' | default('dflt')", "dflt"),
    ("[] | default('dflt')", "dflt"),
    ("'set' | default('dflt')", "set"),
    ("[1, 1, 2] | distinct", [1, 2]),
    ("[[1], 2, [3]] | flatten", [1, 2, 3]),
    ("[1, 2, 3] | chunk(2)", [[1, 2], [3]]),
    ("{'a': [1, 2]} | yaml", "a:\n- 1\n- 2\n"),
])
def test_value_filters(engine: ExpressionEngine, expression: str, expected: Any) -> None:
    assert evaluate(engine, expression) == expected


def test_filter_misuse_names_the_filter(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="'abc' is not a number"):
        evaluate(engine, "'abc' | number")
    with pytest.raises(ExpressionError, match="keys expects a map"):
        evaluate(engine, "[1] | keys")
    with pytest.raises(ExpressionError, match="No filter named 'nosuch'"):
        engine.check("{{ 1 | nosuch }}")


# --- functions -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("range(1, 3)", [1, 2, 3]),
    ("range(0, 10, 5)", [0, 5, 10]),
    ("range(3, 1, -1)", [3, 2, 1]),
    ("fromJson('{\"a\": [1, true, null]}')", {"a": [1, True, None]}),
    ("json('[1, 2]')", [1, 2]),
    ("fromJson('{\"a\": {\"b\": 5}}').a.b", 5),
    ("yaml('a: 1\\nb: [x, y]')", {"a": 1, "b": ["x", "y"]}),
    ("secret('GITHUB_TOKEN')", "s3cr3t-GITHUB_TOKEN"),
    ("kv('my_key')", {"key": "my_key", "namespace": None, "error_on_missing": False}),
    ("kv('k', namespace='other.ns', errorOnMissing=false)",
     {"key": "k", "namespace": "other.ns", "error_on_missing": False}),
    ("read('kestra:///a.txt')", "content of kestra:///a.txt"),
    ("fileSize('kestra:///a.txt')", 15),
    ("max(3, 9, 4)", 9),
    ("min([3, 9, 4])", 3),
])
def test_functions(engine: ExpressionEngine, expression: str, expected: Any) -> None:
    assert evaluate(engine, expression) == expected


def test_render_renders_explicitly_and_recursively_with_the_same_variables(engine: ExpressionEngine) -> None:
    assert render(engine, "{{ vars.tpl }}") == "{{ inputs.n }} items"  # no implicit recursion
    assert render(engine, "{{ render(vars.tpl) }}") == "-3 items"
    assert render(engine, "{{ render(vars.deeper) }}") == "-3 items!"
    assert render(engine, "{{ renderOnce('{{ \"{{ 1 }}\" }}') }}") == "{{ 1 }}"


def test_render_of_a_text_that_renders_itself_stops_with_an_error(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="nested more than"):
        render(engine, "{{ render(vars.loop) }}")


def test_io_functions_are_refused_by_fixed_functions_with_a_reason(engine: ExpressionEngine) -> None:
    for call in ("secret('x')", "kv('x')", "read('x')", "fileSize('x')"):
        with pytest.raises(ExpressionError, match="is not available in this context") as caught:
            engine.render("{{ " + call + " }}", {}, FixedFunctions(NOW))
        assert caught.value.expression == "{{ " + call + " }}"


def test_range_is_bounded(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="more than 100000"):
        evaluate(engine, "range(0, 10000000)")


def test_invalid_json_says_so(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="could not parse its argument as JSON"):
        evaluate(engine, "fromJson('{nope')")
