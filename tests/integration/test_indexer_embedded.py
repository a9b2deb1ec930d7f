"""The embedded indexer: what an ``EmbeddedEngine`` runs becomes searchable in SQLite FTS5."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.indexer import EmbeddedIndexer
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel
from kestra_stream.search import ExecutionQuery, FlowQuery, LogQuery, SqliteRepository

FLOW = """
id: greet
namespace: it.embedded.search
labels:
  team: data
inputs:
  - id: who
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }}"
  - id: careful
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: "watch out {{ inputs.who }}"
"""


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedEngine, SqliteRepository, EmbeddedIndexer]]:
    repository = SqliteRepository(tmp_path / "search.db")
    async with EmbeddedEngine(tmp_path / "home") as engine:
        engine.deploy(FLOW)
        indexer = EmbeddedIndexer(engine, repository, interval=0.05)
        await indexer.start()
        yield engine, repository, indexer
        await indexer.stop()
    repository.close()


async def test_a_finished_execution_its_logs_and_its_flow_are_searchable(
        running: tuple[EmbeddedEngine, SqliteRepository, EmbeddedIndexer]) -> None:
    engine, repository, indexer = running
    execution_id = await engine.create_execution("it.embedded.search", "greet", {"who": "marguerite"})
    await engine.wait(execution_id, timeout=60)
    await indexer.flush()

    found = repository.search_executions(ExecutionQuery(namespace="it.embedded", labels={"team": "data"},
                                                        text="marguerite"))
    assert [(e.id, e.state.current) for e in found.items] == [(execution_id, StateType.SUCCESS)]
    messages = [e.message for e in repository.search_logs(LogQuery(execution_id=execution_id)).items]
    assert "hello marguerite" in messages and "watch out marguerite" in messages
    warned = repository.search_logs(LogQuery(execution_id=execution_id, min_level=LogLevel.WARN)).items
    assert [e.message for e in warned] == ["watch out marguerite"]
    assert [f.id for f in repository.search_flows(FlowQuery(text="careful")).items] == ["greet"]


async def test_the_indexed_document_is_the_final_state_after_every_snapshot(
        running: tuple[EmbeddedEngine, SqliteRepository, EmbeddedIndexer]) -> None:
    engine, repository, indexer = running
    ids = [await engine.create_execution("it.embedded.search", "greet", {"who": str(i)}) for i in range(5)]
    for execution_id in ids:
        await engine.wait(execution_id, timeout=60)
    await indexer.flush()
    assert repository.count_by_state(ExecutionQuery(flow_id="greet")) == {StateType.SUCCESS: 5}


PURGE = """
id: purge
namespace: it.embedded.search
tasks:
  - id: purge
    type: io.kestra.plugin.core.log.PurgeLogs
    namespace: it.embedded
    logLevels: [WARN]
    endDate: "{{ now() | dateAdd(1, 'MINUTES') }}"
"""


async def test_log_lines_purged_by_a_task_leave_the_search_index_too(
        running: tuple[EmbeddedEngine, SqliteRepository, EmbeddedIndexer]) -> None:
    engine, repository, indexer = running
    greeted = await engine.create_execution("it.embedded.search", "greet", {"who": "louise"})
    await engine.wait(greeted, timeout=10)
    engine.deploy(PURGE)
    purged = await engine.wait(await engine.create_execution("it.embedded.search", "purge", {}), timeout=10)
    assert purged.state.current == StateType.SUCCESS
    assert purged.task_run_list[0].outputs == {"count": 1}
    await indexer.flush()

    messages = [e.message for e in repository.search_logs(LogQuery(execution_id=greeted)).items]
    assert messages == ["hello louise"]
    assert [e.message for e in engine.logs(greeted)] == ["hello louise"]
