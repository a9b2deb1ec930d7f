"""kestra:// URIs: Kestra's layout, canonical spelling, and every way out refused."""

from __future__ import annotations

import pytest

from kestra_stream.storage import (
    StorageUriError,
    child_uri,
    execution_id_of,
    execution_uri,
    flow_uri,
    input_uri,
    is_within,
    kv_uri,
    namespace_files_uri,
    namespace_path,
    normalize_uri,
    parse_uri,
    slugify,
    task_uri,
    trigger_uri,
)


def test_slugify_matches_kestra_for_ids_with_underscores_spaces_and_accents() -> None:
    assert slugify("check_data quality") == "check-data-quality"
    assert slugify("Café__Éclair") == "cafe-eclair"
    assert slugify("--a..b--") == "ab"


def test_task_uri_follows_kestra_storage_context_layout() -> None:
    uri = task_uri("company.team", "my_flow", "5Xa", "check-data", "7Yb", "out.csv")
    assert uri == "kestra:///company/team/my-flow/executions/5Xa/tasks/check-data/7Yb/out.csv"


def test_other_layout_helpers() -> None:
    assert flow_uri("a.b", "F") == "kestra:///a/b/f"
    assert execution_uri("a", "f", "E1") == "kestra:///a/f/executions/E1"
    assert input_uri("a", "f", "E1", "file", "data.txt") == "kestra:///a/f/executions/E1/inputs/file/data.txt"
    assert trigger_uri("a", "f", "E1", "on_kafka") == "kestra:///a/f/executions/E1/trigger/on-kafka"
    assert namespace_files_uri("a.b") == "kestra:///a/b/_files"
    assert kv_uri("a.b") == "kestra:///a/b/_kv"
    assert namespace_path("company.team.sub") == "company/team/sub"


def test_file_names_are_percent_encoded_and_decoded_back() -> None:
    uri = task_uri("a", "f", "e", "t", "r", "my report #1.txt")
    assert uri.endswith("/my%20report%20%231.txt")
    assert parse_uri(uri)[-1] == "my report #1.txt"


def test_normalize_gives_one_spelling_per_file() -> None:
    assert normalize_uri("kestra:///a/b/%6Eame.txt") == "kestra:///a/b/name.txt"


@pytest.mark.parametrize("uri", [
    "kestra:///a/../b",
    "kestra:///a/%2e%2e/b",
    "kestra:///a/./b",
    "kestra:///a//b",
    "kestra:////etc/passwd",
    "kestra:///a/%2Fetc",
    "kestra:///a/b%5C..%5Cc",
    "kestra:///a/%00",
    "kestra:///",
    "kestra://host/a",
    "file:///etc/passwd",
    "/etc/passwd",
    "kestra:///a/%ff",
])
def test_escaping_or_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(StorageUriError) as err:
        parse_uri(uri)
    assert err.value.uri is not None


def test_host_form_error_says_how_to_fix_it() -> None:
    with pytest.raises(StorageUriError, match=r"kestra:///a/b"):
        parse_uri("kestra://a/b")


def test_prefix_parsing_accepts_root_and_trailing_slash() -> None:
    assert parse_uri("kestra:///", prefix=True) == ()
    assert parse_uri("kestra:///a/b/", prefix=True) == ("a", "b")


def test_is_within_compares_whole_segments() -> None:
    assert is_within("kestra:///a/b/c.txt", "kestra:///a/b")
    assert is_within("kestra:///a/b", "kestra:///a/b/")
    assert not is_within("kestra:///a/bc/c.txt", "kestra:///a/b")
    assert is_within("kestra:///x", "kestra:///")


def test_child_uri_refuses_a_name_that_is_not_one_segment() -> None:
    assert child_uri("kestra:///a", "b c") == "kestra:///a/b%20c"
    with pytest.raises(StorageUriError):
        child_uri("kestra:///a", "../b")
    with pytest.raises(StorageUriError):
        child_uri("kestra:///a", "b/c")


def test_namespace_with_empty_part_is_refused() -> None:
    with pytest.raises(StorageUriError):
        flow_uri("a..b", "f")


def test_execution_id_is_extracted_from_an_execution_uri() -> None:
    assert execution_id_of(task_uri("a.b", "f", "E9", "t", "r", "x")) == "E9"
    assert execution_id_of("kestra:///a/b/_files/x") is None
