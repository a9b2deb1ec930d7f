"""Trigger state in SQLite and the requests the API makes on it (disable, unlock, backfills)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kestra_stream.errors import NotFoundError, TriggerStateError
from kestra_stream.scheduler import (
    BackfillRequest,
    SqliteTriggerStore,
    delete_backfill,
    pause_backfill,
    set_disabled,
    start_backfill,
    unlock,
)
from kestra_stream.search import TriggerRecord

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTriggerStore]:
    opened = SqliteTriggerStore(tmp_path / "triggers.db")
    yield opened
    opened.close()


async def test_a_put_record_is_read_back_by_another_store_on_the_same_file(tmp_path: Path) -> None:
    first = SqliteTriggerStore(tmp_path / "t.db")
    await first.put(TriggerRecord(namespace="a.b", flow_id="f", trigger_id="t", version=3, next_execution_date=NOW))
    first.close()
    second = SqliteTriggerStore(tmp_path / "t.db")
    try:
        record = second.get("a.b/f/t")
    finally:
        second.close()
    assert record is not None and (record.version, record.next_execution_date) == (3, NOW)


async def test_list_filters_by_namespace_and_its_children_and_by_flow(store: SqliteTriggerStore) -> None:
    for namespace, flow_id in (("a", "f"), ("a.b", "g"), ("ab", "f")):
        await store.put(TriggerRecord(namespace=namespace, flow_id=flow_id, trigger_id="t"))
    assert [r.uid for r in store.list("a")] == ["a.b/g/t", "a/f/t"]
    assert [r.uid for r in store.list(flow_id="f")] == ["a/f/t", "ab/f/t"]


async def test_disable_and_enable_bump_the_version_of_a_trigger_never_seen(store: SqliteTriggerStore) -> None:
    disabled = await set_disabled(store, "a/f/t", True, now=NOW)
    enabled = await set_disabled(store, "a/f/t", False, now=NOW)
    assert (disabled.disabled, disabled.version, enabled.disabled, enabled.version) == (True, 1, False, 2)
    assert store.get("a/f/t") == enabled


async def test_unlock_clears_a_stuck_evaluation_and_refuses_an_unknown_trigger(store: SqliteTriggerStore) -> None:
    await store.put(TriggerRecord(namespace="a", flow_id="f", trigger_id="t", evaluate_running_date=NOW))
    assert (await unlock(store, "a/f/t", now=NOW)).evaluate_running_date is None
    with pytest.raises(NotFoundError, match="no state yet"):
        await unlock(store, "a/f/missing")


async def test_a_backfill_is_visible_pausable_and_deleted(store: SqliteTriggerStore) -> None:
    started = await start_backfill(store, "a/f/t", BackfillRequest(start=datetime(2024, 12, 1), labels={"k": "v"}),
                                   now=NOW)
    assert started.backfill is not None
    assert (started.backfill.start, started.backfill.end, started.backfill.current_date) == (
        datetime(2024, 12, 1, tzinfo=UTC), NOW, datetime(2024, 12, 1, tzinfo=UTC))
    paused = await pause_backfill(store, "a/f/t", now=NOW)
    assert paused.backfill is not None and paused.backfill.paused
    assert (await delete_backfill(store, "a/f/t", now=NOW)).backfill is None
    with pytest.raises(NotFoundError, match="no backfill"):
        await delete_backfill(store, "a/f/t")


async def test_a_second_backfill_or_one_ending_before_it_starts_is_refused(store: SqliteTriggerStore) -> None:
    with pytest.raises(TriggerStateError, match="before start"):
        await start_backfill(store, "a/f/t", BackfillRequest(start=NOW, end=datetime(2024, 1, 1, tzinfo=UTC)))
    await start_backfill(store, "a/f/t", BackfillRequest(start=datetime(2024, 1, 1, tzinfo=UTC)), now=NOW)
    with pytest.raises(TriggerStateError, match="delete it first"):
        await start_backfill(store, "a/f/t", BackfillRequest(start=datetime(2024, 1, 1, tzinfo=UTC)), now=NOW)


async def test_a_malformed_uid_is_refused_with_its_expected_shape(store: SqliteTriggerStore) -> None:
    with pytest.raises(NotFoundError, match="namespace/flowId/triggerId"):
        await set_disabled(store, "not-a-uid", True)


def test_trigger_record_with_a_backfill_round_trips_in_kestra_camel_case() -> None:
    record = TriggerRecord.model_validate_json(
        b'{"namespace":"a","flowId":"f","triggerId":"t","evaluateRunningDate":"2025-01-01T00:00:00Z",'
        b'"backfill":{"start":"2025-01-01T00:00:00Z","end":"2025-01-02T00:00:00Z",'
        b'"currentDate":"2025-01-01T00:00:00Z","created":"2025-01-03T00:00:00Z","paused":true}}')
    assert record.backfill is not None and record.backfill.paused
    assert TriggerRecord.model_validate_json(record.model_dump_json()) == record
    assert "currentDate" in record.model_dump_json()
