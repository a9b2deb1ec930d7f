"""Pure pieces of search: the words both backends index, derived dates, query models, decoded batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType

import pytest
from pydantic import ValidationError

import kestra_stream.indexer as indexer_package
import kestra_stream.search as search_package
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.indexer import PendingBatch, Record
from kestra_stream.kafka import KafkaSettings, encode_log, encode_state
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import State, StateHistory, StateType
from kestra_stream.models.task import LogLevel
from kestra_stream.search import ExecutionQuery, Paging, TriggerRecord
from kestra_stream.search._documents import (
    duration_seconds,
    end_date,
    execution_text,
    iso,
    levels_at_least,
    start_date,
    words,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def make(state: StateType, *, inputs: dict[str, object] | None = None) -> Execution:
    histories = [StateHistory(state=StateType.CREATED, date=T0)]
    if state != StateType.CREATED:
        histories.append(StateHistory(state=state, date=T0 + timedelta(seconds=90)))
    return Execution(id="7aBc9", namespace="io.kestra.demo", flow_id="my_flow", labels={"team": "Data-Eng"},
                     inputs=inputs, state=State(current=state, histories=tuple(histories)))


@pytest.mark.parametrize("module", [search_package, indexer_package])
def test_packages_export_every_public_class_they_hold(module: ModuleType) -> None:
    exported: list[str] = module.__all__
    classes = [n for n in dir(module) if n[0].isupper() and not n.startswith("_")]
    assert sorted(exported) == sorted({*classes, *exported})
    assert all(hasattr(module, name) for name in exported)


def test_words_split_on_punctuation_keep_underscores_and_lower_case() -> None:
    assert words("io.kestra-Demo my_flow/x:Y 42") == ["io", "kestra", "demo", "my_flow", "x", "y", "42"]
    assert words("  ...  ") == []


def test_execution_text_holds_ids_flow_labels_and_nested_input_values() -> None:
    text = execution_text(make(StateType.SUCCESS, inputs={"a": {"b": ["deep-value", 3]}, "flag": True,
                                                          "none": None}))
    assert text.split() == ["7abc9", "io", "kestra", "demo", "my_flow", "team", "data", "eng", "deep", "value",
                            "3", "true"]


def test_dates_and_duration_of_a_finished_and_a_running_execution() -> None:
    done = make(StateType.SUCCESS)
    assert (start_date(done), end_date(done), duration_seconds(done)) == (T0, T0 + timedelta(seconds=90), 90.0)
    running = make(StateType.RUNNING)
    assert (end_date(running), duration_seconds(running)) == (None, None)


def test_iso_timestamps_are_utc_fixed_width_and_sort_as_time() -> None:
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert iso(paris) == "2026-01-02T03:04:05.000000Z"
    assert sorted([iso(T0 + timedelta(microseconds=5)), iso(T0)]) == [iso(T0), iso(T0 + timedelta(microseconds=5))]


def test_minimum_level_keeps_that_level_and_the_more_severe() -> None:
    assert levels_at_least(LogLevel.WARN) == ["WARN", "ERROR"]
    assert levels_at_least(LogLevel.TRACE) == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


def test_queries_take_naive_dates_as_utc_and_bound_paging() -> None:
    query = ExecutionQuery.model_validate({"start_date": "2026-01-02T03:00:00", "states": ["FAILED"]})
    assert query.start_date == datetime(2026, 1, 2, 3, tzinfo=UTC)
    assert Paging(page=3, size=20).offset == 40
    with pytest.raises(ValidationError):
        Paging(size=100_000)
    with pytest.raises(ValidationError):
        ExecutionQuery.model_validate({"unknown": 1})


def test_trigger_record_reads_kestra_camel_case_and_names_its_uid() -> None:
    record = TriggerRecord.model_validate_json(b'{"namespace":"a.b","flowId":"f","triggerId":"t","disabled":true}')
    assert (record.uid, record.disabled, record.version) == ("a.b/f/t", True, 0)


# ----- decoding Kafka records into a batch -------------------------------------------------------
SETTINGS = KafkaSettings(topic_prefix="p.")


def test_snapshots_are_versioned_by_their_offset_a_tombstone_deletes_and_the_next_offset_is_committed() -> None:
    pending = PendingBatch.for_settings(SETTINGS)
    snapshot = encode_state(ExecutionState(execution=make(StateType.RUNNING)))
    pending.add(Record(topic="p.execution", partition=1, offset=7, value=snapshot))
    pending.add(Record(topic="p.execution", partition=1, offset=9, value=snapshot))
    pending.add(Record(topic="p.execution", partition=0, offset=3, value=None, key=b"gone"))
    assert [version for _, version in pending.batch.executions] == [8, 10]
    assert pending.batch.deleted_executions == ["gone"]
    assert pending.commit == {("p.execution", 1): 10, ("p.execution", 0): 4}
    assert (len(pending), len(pending.batch)) == (3, 3)


def test_only_the_last_snapshot_of_an_execution_in_a_batch_is_decoded_and_written() -> None:
    pending = PendingBatch.for_settings(SETTINGS)
    running = encode_state(ExecutionState(execution=make(StateType.RUNNING)))
    done = encode_state(ExecutionState(execution=make(StateType.SUCCESS)))
    # An unreadable snapshot that a later one supersedes is never decoded: it is not even counted as skipped.
    pending.add(Record(topic="p.execution", partition=1, offset=7, value=b"not a state", key=b"e1"))
    pending.add(Record(topic="p.execution", partition=1, offset=8, value=running, key=b"e1"))
    pending.add(Record(topic="p.execution", partition=0, offset=2, value=running, key=b"e2"))
    pending.add(Record(topic="p.execution", partition=1, offset=9, value=done, key=b"e1"))
    pending.add(Record(topic="p.execution", partition=0, offset=3, value=running, key=b"gone"))
    pending.add(Record(topic="p.execution", partition=0, offset=4, value=None, key=b"gone"))
    batch = pending.batch
    assert sorted((version, e.state.current) for e, version in batch.executions) == [
        (3, StateType.RUNNING), (10, StateType.SUCCESS)]
    assert batch.deleted_executions == ["gone"]
    assert (pending.superseded, pending.skipped, len(pending)) == (3, 0, 6)
    assert pending.commit == {("p.execution", 1): 10, ("p.execution", 0): 5}


def test_log_lines_get_an_id_from_partition_and_offset() -> None:
    entry = LogEntry(execution_id="e", namespace="n", flow_id="f", level=LogLevel.INFO, message="m", timestamp=T0)
    pending = PendingBatch.for_settings(SETTINGS)
    pending.add(Record(topic="p.logs", partition=2, offset=41, value=encode_log(entry)))
    assert [(item.id, item.seq, item.entry) for item in pending.batch.logs] == [("2-41", 41, entry)]


def test_an_unreadable_record_is_skipped_but_still_committed() -> None:
    pending = PendingBatch.for_settings(SETTINGS)
    pending.add(Record(topic="p.trigger", partition=0, offset=5, value=b'{"not": "a trigger"}'))
    assert (pending.skipped, len(pending.batch), pending.commit) == (1, 0, {("p.trigger", 0): 6})
