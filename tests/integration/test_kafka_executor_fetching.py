"""The executor stops fetching its tables' changelogs once they are recovered (a fetch stall otherwise).

faust leaves recovered changelog partitions assigned and fetched by aiokafka; each table write came
back into aiokafka's buffer, where nothing took it, and held every fetch back for aiokafka's prefetch
backoff (~100 ms). These tests run a real faust executor against the broker, driven by the fake
worker of ``test_kafka_executor``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_kafka_executor import Harness, succeed

from kestra_stream.kafka import delete_topics
from kestra_stream.kafka.executor import KafkaExecutor
from kestra_stream.kafka.executor._fetching import changelog_partitions
from kestra_stream.models.state import StateType

TABLES = ("executions", "timers", "slots")


def changelogs(executor: KafkaExecutor) -> set[tuple[str, int]]:
    app_id, partitions = executor.settings.executor_app_id, executor.settings.partitions
    return {(f"{app_id}-{table}-changelog", p) for table in TABLES for p in range(partitions)}


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[Harness]:
    async with Harness(kafka_bootstrap, succeed) as h:
        yield h
    delete_topics(h.settings)


@pytest.mark.kafka
async def test_a_started_executor_fetches_none_of_its_tables_changelogs_but_its_inbox(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        final = await harness.finished(harness.create("three_logs"))
        paused = await executor.paused_partitions()
    finally:
        await executor.stop()
    assert final.execution.state.current is StateType.SUCCESS
    assert paused == changelogs(executor)


@pytest.mark.kafka
async def test_a_restarted_executor_recovers_its_state_from_the_changelog_then_pauses_it(harness: Harness) -> None:
    first = harness.executor()
    await first.start()
    try:
        execution_id = harness.create("three_logs")
        await harness.finished(execution_id)
    finally:
        await first.stop()
    second = harness.executor()
    await second.start()
    try:
        restored = second.state(execution_id)
        paused = await second.paused_partitions()
    finally:
        await second.stop()
    assert restored is not None and restored.execution.state.current is StateType.SUCCESS
    assert [tr.task_id for tr in restored.execution.task_run_list] == ["a", "b", "c"]
    assert paused == changelogs(second)


class _TP:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


def test_changelog_partitions_are_the_assigned_ones_of_changelog_topics_sorted() -> None:
    assignment = [_TP("app-executions-changelog", 1), _TP("inbox", 0), _TP("app-executions-changelog", 0),
                  _TP("app-timers-changelog", 1)]
    found = changelog_partitions(assignment, ["app-executions-changelog", "app-timers-changelog", "app-x"])
    assert found == [("app-executions-changelog", 0), ("app-executions-changelog", 1), ("app-timers-changelog", 1)]
