"""What started an execution, as both search repositories index and filter it, including in a store
written by an older version (no such field yet): Elasticsearch (real server) and SQLite."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kestra_stream.models.execution import Execution, TriggeredBy, execution_trigger
from kestra_stream.models.state import StateType
from kestra_stream.search import (
    ElasticsearchRepository,
    ExecutionQuery,
    IndexBatch,
    Interval,
    SearchRepository,
    SqliteRepository,
)
from kestra_stream.search._elasticsearch import _MAPPINGS, execution_document
from tests.integration._search_data import T0, execution

NEW_FIELDS = ("triggeredBy", "triggerExecutionId")


def started(id_: str, hours: int, trigger: dict[str, Any] | None,
            state: StateType = StateType.SUCCESS) -> Execution:
    return execution(id_, "company.team", "etl", state, started=T0 + timedelta(hours=hours)).model_copy(
        update={"trigger": trigger})


def kinds_of_each() -> list[Execution]:
    """One execution per way to start one; the flow-triggered one and the subflow were started by 'm1'."""
    return [
        started("m1", 0, None),
        started("s1", 1, execution_trigger("daily", "io.kestra.plugin.core.trigger.Schedule",
                                           {"date": "2026-03-01T09:00:00Z"}, TriggeredBy.SCHEDULE)),
        started("w1", 2, execution_trigger("hook", "io.kestra.plugin.core.trigger.Webhook", {"body": {}},
                                           TriggeredBy.WEBHOOK), StateType.FAILED),
        started("f1", 3, execution_trigger("after", "io.kestra.plugin.core.trigger.Flow",
                                           {"executionId": "m1", "state": "SUCCESS"}, TriggeredBy.FLOW)),
        started("r1", 4, execution_trigger("listen", "io.kestra.plugin.kafka.RealtimeTrigger", {"offset": 3},
                                           TriggeredBy.REALTIME)),
        started("p1", 5, execution_trigger("poll", "io.kestra.plugin.kafka.Trigger", {"messagesCount": 2},
                                           TriggeredBy.POLLING)),
        started("c1", 6, execution_trigger("subflow", "io.kestra.plugin.core.flow.Subflow",
                                           {"executionId": "m1"}, TriggeredBy.SUBFLOW)),
    ]


def old_shaped() -> list[Execution]:
    """Executions of an older version: triggers without ``kind``, one under an alias of its type."""
    def trigger(type_: str, variables: dict[str, Any]) -> dict[str, Any]:
        return {"id": "t", "type": type_, "variables": variables}
    return [started("old-manual", 0, None),
            started("old-schedule", 1, trigger("io.kestra.core.models.triggers.types.Schedule", {})),
            started("old-flow", 2, trigger("io.kestra.plugin.core.trigger.Flow", {"executionId": "old-manual"})),
            started("old-realtime", 3, trigger("io.kestra.plugin.kafka.RealtimeTrigger", {}))]


def ids(repository: SearchRepository, **filters: Any) -> list[str]:
    found = repository.search_executions(ExecutionQuery.model_validate(filters)).items
    return sorted(e.id for e in found)


def test_each_way_an_execution_starts_is_its_own_filter_value(repository: SearchRepository) -> None:
    repository.write(IndexBatch(executions=[(e, 1) for e in kinds_of_each()]))
    repository.refresh()
    assert ids(repository, triggered_by=["MANUAL"]) == ["m1"]
    assert ids(repository, triggered_by=["SCHEDULE"]) == ["s1"]
    assert ids(repository, triggered_by=["WEBHOOK", "FLOW"]) == ["f1", "w1"]
    assert ids(repository, triggered_by=["REALTIME"]) == ["r1"]
    assert ids(repository, triggered_by=["POLLING"]) == ["p1"]
    assert ids(repository, triggered_by=["SUBFLOW"]) == ["c1"]
    assert ids(repository, triggered_by=["WEBHOOK"], states=["SUCCESS"]) == []


def test_kestras_trigger_execution_id_and_child_filter(repository: SearchRepository) -> None:
    repository.write(IndexBatch(executions=[(e, 1) for e in kinds_of_each()]))
    repository.refresh()
    assert ids(repository, trigger_execution_id="m1") == ["c1", "f1"]
    assert ids(repository, child=True) == ["c1", "f1"]
    assert ids(repository, child=False) == ["m1", "p1", "r1", "s1", "w1"]


def test_counts_histogram_and_flows_follow_the_triggered_by_filter(repository: SearchRepository) -> None:
    repository.write(IndexBatch(executions=[(e, 1) for e in kinds_of_each()]))
    repository.refresh()
    query = ExecutionQuery(triggered_by=(TriggeredBy.WEBHOOK, TriggeredBy.SCHEDULE))
    assert repository.count_by_state(query) == {StateType.SUCCESS: 1, StateType.FAILED: 1}
    assert [b.total for b in repository.histogram(query, Interval.DAY)] == [2]
    assert [f.total for f in repository.count_by_flow(query)] == [2]


def test_executions_written_before_kinds_were_recorded_are_classified_by_their_type(
        repository: SearchRepository) -> None:
    repository.write(IndexBatch(executions=[(e, 1) for e in old_shaped()]))
    repository.refresh()
    assert ids(repository, triggered_by=["SCHEDULE"]) == ["old-schedule"]
    assert ids(repository, triggered_by=["FLOW"]) == ["old-flow"]
    assert ids(repository, triggered_by=["REALTIME"]) == ["old-realtime"]
    assert ids(repository, triggered_by=["MANUAL"]) == ["old-manual"]


# ----- a store of the previous version ---------------------------------------------------------------
PREVIOUS_SQLITE_EXECUTIONS = """
CREATE TABLE executions (
    id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, state TEXT NOT NULL,
    start_date TEXT, end_date TEXT, duration REAL, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX executions_start ON executions (start_date, namespace, state, flow_id, id);
"""


def test_a_sqlite_database_of_the_previous_version_gains_the_columns_filled_from_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    with sqlite3.connect(path) as db:
        db.executescript(PREVIOUS_SQLITE_EXECUTIONS)
        db.executemany("INSERT INTO executions VALUES (?, ?, ?, ?, ?, NULL, NULL, 1, ?)",
                       [(e.id, e.namespace, e.flow_id, e.state.current.value, "2026-03-01T08:00:00.000000Z",
                         e.model_dump_json()) for e in kinds_of_each()])
    db.close()
    repository = SqliteRepository(path)
    try:
        assert ids(repository, triggered_by=["SCHEDULE"]) == ["s1"]
        assert ids(repository, trigger_execution_id="m1") == ["c1", "f1"]
        # Written after the migration, beside the migrated rows.
        repository.write(IndexBatch(executions=[(started("w2", 9, kinds_of_each()[2].trigger), 1)]))
        assert ids(repository, triggered_by=["WEBHOOK"]) == ["w1", "w2"]
    finally:
        repository.close()
    # Opened again: nothing left to migrate, the rows stay as they are.
    again = SqliteRepository(path)
    try:
        assert ids(again, triggered_by=["MANUAL"]) == ["m1"]
    finally:
        again.close()


@pytest.mark.elasticsearch
def test_an_elasticsearch_index_of_the_previous_version_gains_the_fields_and_its_documents(
        elasticsearch_url: str) -> None:
    es = ElasticsearchRepository.connect(elasticsearch_url, prefix=f"test-trig-old-{uuid.uuid4().hex[:10]}")
    try:
        previous = {k: v for k, v in _MAPPINGS["executions"].items() if k not in NEW_FIELDS}
        index = es.index("executions")
        es.client.indices.create(index=index, mappings={"dynamic": False, "properties": previous})
        for version, e in enumerate(kinds_of_each(), start=3):
            document = {k: v for k, v in json.loads(execution_document(e)).items() if k not in NEW_FIELDS}
            es.client.index(index=index, id=e.id, document=document, version=version, version_type="external")
        es.client.indices.refresh(index=index)
        es.setup()
        es.refresh()
        mapped = es.client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert {"triggeredBy", "triggerExecutionId"} <= set(mapped)
        assert ids(es, triggered_by=["SCHEDULE"]) == ["s1"]
        assert ids(es, trigger_execution_id="m1") == ["c1", "f1"]
        # The documents keep their versions: a snapshot older than the one indexed still loses.
        stale = started("s1", 1, None, StateType.FAILED)
        es.write(IndexBatch(executions=[(stale, 4)]))
        es.refresh()
        assert ids(es, triggered_by=["SCHEDULE"], states=["SUCCESS"]) == ["s1"]
    finally:
        es.drop()
        es.close()
