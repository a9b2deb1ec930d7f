"""Every query of the search interface, run alike on Elasticsearch (real server) and SQLite FTS5."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel
from kestra_stream.search import (
    ExecutionQuery,
    ExecutionSort,
    FlowQuery,
    IndexBatch,
    Interval,
    LogQuery,
    Paging,
    SearchRepository,
    TriggerQuery,
)
from tests.integration._search_data import T0, execution, full_batch


@pytest.fixture
def indexed(repository: SearchRepository) -> SearchRepository:
    repository.write(full_batch())
    repository.refresh()
    return repository


def ids(repository: SearchRepository, **filters: object) -> list[str]:
    return [e.id for e in repository.search_executions(ExecutionQuery.model_validate(filters)).items]


def test_repositories_implement_the_search_interface(repository: SearchRepository) -> None:
    assert isinstance(repository, SearchRepository)


def test_executions_default_to_newest_start_first(indexed: SearchRepository) -> None:
    assert ids(indexed) == ["ex8", "ex7", "ex6", "ex5", "ex4", "ex3", "ex2", "ex1"]


def test_namespace_filter_includes_children_but_not_siblings_sharing_a_prefix(indexed: SearchRepository) -> None:
    assert sorted(ids(indexed, namespace="company.team")) == ["ex1", "ex2", "ex3", "ex4"]
    assert sorted(ids(indexed, namespace="company")) == ["ex1", "ex2", "ex3", "ex4", "ex5", "ex8"]


def test_flow_id_and_state_filters_combine(indexed: SearchRepository) -> None:
    assert sorted(ids(indexed, flow_id="etl")) == ["ex1", "ex2", "ex5"]
    assert sorted(ids(indexed, flow_id="etl", states=["SUCCESS"])) == ["ex1", "ex5"]
    assert sorted(ids(indexed, states=["FAILED", "KILLED"])) == ["ex2", "ex6", "ex8"]


def test_label_filter_matches_key_and_value_of_the_same_label(indexed: SearchRepository) -> None:
    assert sorted(ids(indexed, labels={"env": "prod"})) == ["ex1", "ex3", "ex5"]
    assert sorted(ids(indexed, labels={"env": "prod", "owner": "ana"})) == ["ex1"]
    assert ids(indexed, labels={"env": "ana"}) == []


def test_time_range_is_on_the_start_date_end_excluded(indexed: SearchRepository) -> None:
    day2 = T0 + timedelta(days=1)
    assert sorted(ids(indexed, start_date=day2, end_date=day2 + timedelta(days=1))) == ["ex3", "ex4"]
    assert sorted(ids(indexed, end_date=T0 + timedelta(hours=1))) == ["ex1"]


def test_text_matches_ids_flow_labels_and_input_values(indexed: SearchRepository) -> None:
    assert ids(indexed, text="ex6") == ["ex6"]
    assert sorted(ids(indexed, text="report")) == ["ex3", "ex4"]
    assert sorted(ids(indexed, text="ana")) == ["ex1", "ex8"]
    assert ids(indexed, text="us-east") == ["ex2"]
    assert ids(indexed, text="orders_2026") == ["ex6"]
    assert ids(indexed, text="etl prod west") == ["ex1"]
    assert ids(indexed, text="nothing-like-this") == []


def test_sort_by_each_field_both_ways_with_unfinished_last(indexed: SearchRepository) -> None:
    assert ids(indexed, sort=ExecutionSort.DURATION, descending=False) == [
        "ex5", "ex7", "ex1", "ex8", "ex3", "ex2", "ex6", "ex4"]
    assert ids(indexed, sort=ExecutionSort.DURATION)[:2] == ["ex6", "ex2"]
    assert ids(indexed, sort=ExecutionSort.END_DATE)[-1] == "ex4"
    assert ids(indexed, sort=ExecutionSort.ID, descending=False) == [f"ex{i}" for i in range(1, 9)]
    assert ids(indexed, sort=ExecutionSort.NAMESPACE, descending=False)[0] == "ex8"
    assert ids(indexed, sort=ExecutionSort.STATE, descending=False)[:2] == ["ex2", "ex8"]


def test_pages_cover_every_result_once_with_the_total(indexed: SearchRepository) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        result = indexed.search_executions(ExecutionQuery(sort=ExecutionSort.ID, descending=False,
                                                          paging=Paging(page=page, size=3)))
        assert result.total == 8
        assert (result.page, result.size) == (page, 3)
        seen += [e.id for e in result.items]
    assert seen == [f"ex{i}" for i in range(1, 9)]


def test_search_returns_the_whole_execution(indexed: SearchRepository) -> None:
    found = indexed.search_executions(ExecutionQuery(text="ex1")).items[0]
    assert found.inputs == {"region": "eu-west", "size": 3}
    assert found.labels == {"env": "prod", "owner": "ana"}
    assert found.state.current == StateType.SUCCESS


def test_counts_per_state_follow_the_filters(indexed: SearchRepository) -> None:
    assert indexed.count_by_state(ExecutionQuery()) == {
        StateType.SUCCESS: 4, StateType.FAILED: 2, StateType.RUNNING: 1, StateType.KILLED: 1}
    assert indexed.count_by_state(ExecutionQuery(namespace="other")) == {StateType.SUCCESS: 1, StateType.KILLED: 1}


def test_histogram_per_day_counts_states_and_durations_of_the_ended(indexed: SearchRepository) -> None:
    days = indexed.histogram(ExecutionQuery(namespace="company"), Interval.DAY)
    assert [(d.start, d.counts) for d in days] == [
        (datetime(2026, 3, 1, tzinfo=UTC), {StateType.SUCCESS: 1, StateType.FAILED: 1}),
        (datetime(2026, 3, 2, tzinfo=UTC), {StateType.SUCCESS: 1, StateType.RUNNING: 1}),
        (datetime(2026, 3, 3, tzinfo=UTC), {StateType.SUCCESS: 1, StateType.FAILED: 1}),
    ]
    # ex1 5 s and ex2 50 s on the first day; ex4 is still running on the second, so only ex3 (20 s) counts.
    assert [(d.ended, d.duration_min, d.duration_max, d.duration_sum) for d in days] == [
        (2, 5.0, 50.0, 55.0), (1, 20.0, 20.0, 20.0), (2, 1.0, 7.0, 8.0)]


def test_histogram_intervals_start_on_the_hour_the_monday_and_the_first_of_the_month(
        indexed: SearchRepository) -> None:
    def starts(interval: Interval) -> list[tuple[datetime, int]]:
        return [(b.start, b.total) for b in indexed.histogram(ExecutionQuery(namespace="other"), interval)]

    # ex6 at T0 + 2 days 1 h and ex7 at T0 + 2 days 3 h: Tuesday 3 March 2026, 09:00 and 11:00.
    assert starts(Interval.HOUR) == [(datetime(2026, 3, 3, 9, tzinfo=UTC), 1),
                                     (datetime(2026, 3, 3, 11, tzinfo=UTC), 1)]
    assert starts(Interval.MINUTE)[0] == (datetime(2026, 3, 3, 9, 0, tzinfo=UTC), 1)
    assert starts(Interval.WEEK) == [(datetime(2026, 3, 2, tzinfo=UTC), 2)]
    assert starts(Interval.MONTH) == [(datetime(2026, 3, 1, tzinfo=UTC), 2)]


def test_counts_per_flow_by_state_follow_the_filters(indexed: SearchRepository) -> None:
    flows = indexed.count_by_flow(ExecutionQuery())
    assert [(f.namespace, f.flow_id, f.counts) for f in flows] == [
        ("company", "cleanup", {StateType.FAILED: 1}),
        ("company.team", "etl", {StateType.SUCCESS: 1, StateType.FAILED: 1}),
        ("company.team.sub", "report", {StateType.SUCCESS: 1, StateType.RUNNING: 1}),
        ("company.teamwork", "etl", {StateType.SUCCESS: 1}),
        ("other", "ingest", {StateType.KILLED: 1, StateType.SUCCESS: 1}),
    ]
    assert [(f.flow_id, f.total) for f in indexed.count_by_flow(ExecutionQuery(namespace="company.team",
                                                                               states=(StateType.SUCCESS,)))] == [
        ("etl", 1), ("report", 1)]


def test_an_older_snapshot_never_replaces_a_newer_one(repository: SearchRepository) -> None:
    running = execution("late", "ns", "f", StateType.RUNNING, started=T0)
    done = execution("late", "ns", "f", StateType.SUCCESS, started=T0)
    repository.write(IndexBatch(executions=[(done, 7)]))
    repository.write(IndexBatch(executions=[(running, 3)]))
    repository.write(IndexBatch(executions=[(running, 5), (done, 7)]))
    repository.refresh()
    assert [e.state.current for e in repository.search_executions(ExecutionQuery()).items] == [StateType.SUCCESS]
    assert repository.count_by_state(ExecutionQuery()) == {StateType.SUCCESS: 1}


def test_a_deletion_at_a_version_keeps_an_older_snapshot_written_later_out(repository: SearchRepository) -> None:
    # An indexer that lags writes the execution's last snapshot after the API deleted it.
    done = execution("gone", "ns", "f", StateType.SUCCESS, started=T0)
    repository.write(IndexBatch(executions=[(execution("gone", "ns", "f", StateType.RUNNING, started=T0), 3)]))
    repository.delete_execution("gone", version=9)
    repository.delete_execution("never-indexed", version=4)
    never = execution("never-indexed", "ns", "f", StateType.SUCCESS, started=T0)
    repository.write(IndexBatch(executions=[(done, 8), (never, 2)]))
    repository.refresh()
    assert ids(repository) == []
    repository.write(IndexBatch(executions=[(done, 10)]))  # a version past the deletion: the id in use again
    repository.refresh()
    assert ids(repository) == ["gone"]


def test_a_newer_snapshot_replaces_the_document_and_its_labels(repository: SearchRepository) -> None:
    first = execution("e", "ns", "f", StateType.RUNNING, started=T0, labels={"stage": "one"})
    second = execution("e", "ns", "f", StateType.SUCCESS, started=T0, labels={"stage": "two"})
    repository.write(IndexBatch(executions=[(first, 1)]))
    repository.write(IndexBatch(executions=[(second, 2)]))
    repository.refresh()
    assert ids(repository, labels={"stage": "one"}) == []
    assert ids(repository, labels={"stage": "two"}, states=["SUCCESS"]) == ["e"]
    assert ids(repository, text="one") == []


def test_logs_of_an_execution_in_order_and_by_task_run(indexed: SearchRepository) -> None:
    page = indexed.search_logs(LogQuery(execution_id="ex1"))
    assert [e.message for e in page.items] == ["connecting to the warehouse", "loaded 42 rows into orders",
                                               "slow query on orders table", "connection reset by peer"]
    assert page.total == 4
    assert [e.level for e in indexed.search_logs(LogQuery(taskrun_id="tr2")).items] == [LogLevel.WARN,
                                                                                        LogLevel.ERROR]


def test_logs_by_minimum_level_and_text(indexed: SearchRepository) -> None:
    warn = indexed.search_logs(LogQuery(execution_id="ex1", min_level=LogLevel.WARN)).items
    assert [e.level for e in warn] == [LogLevel.WARN, LogLevel.ERROR]
    assert [e.execution_id for e in indexed.search_logs(LogQuery(text="orders rows")).items] == ["ex1", "ex2"]
    assert indexed.search_logs(LogQuery(text="ORDERS", min_level=LogLevel.WARN)).total == 1
    second = indexed.search_logs(LogQuery(execution_id="ex1", paging=Paging(page=2, size=3)))
    assert [e.message for e in second.items] == ["connection reset by peer"]


def test_redelivered_log_lines_are_stored_once(indexed: SearchRepository) -> None:
    indexed.write(full_batch())
    indexed.refresh()
    assert indexed.search_logs(LogQuery()).total == 5


def test_flows_latest_revision_by_namespace_and_text_without_deleted(indexed: SearchRepository) -> None:
    every = indexed.search_flows(FlowQuery()).items
    assert [(f.namespace, f.id, f.revision) for f in every] == [
        ("company.team", "etl", 2), ("company.team.sub", "report", 1), ("other", "ingest", 3)]
    assert [f.id for f in indexed.search_flows(FlowQuery(namespace="company.team")).items] == ["etl", "report"]
    assert [f.id for f in indexed.search_flows(FlowQuery(text="extract")).items] == ["etl", "ingest"]
    assert indexed.search_flows(FlowQuery(text="old")).total == 0


def test_triggers_by_namespace_and_flow(indexed: SearchRepository) -> None:
    assert [t.trigger_id for t in indexed.search_triggers(TriggerQuery(namespace="company.team")).items] == [
        "daily", "hourly", "weekly"]
    found = indexed.search_triggers(TriggerQuery(namespace="company.team", flow_id="etl")).items
    assert [(t.trigger_id, t.disabled) for t in found] == [("daily", False), ("hourly", True)]
    assert indexed.search_triggers(TriggerQuery(flow_id="ingest")).items[0].version == 5


def test_pages_past_the_result_window_are_refused_before_any_search_saying_what_to_do() -> None:
    # Elasticsearch pages at most 10,000 results deep; the SQLite repository is held to the same limit.
    with pytest.raises(ValidationError, match="narrow the search"):
        Paging(page=11, size=1000)
    assert Paging(page=10, size=1000).offset == 9000
