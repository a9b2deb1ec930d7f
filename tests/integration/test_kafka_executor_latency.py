"""What keeps the executor's round trip short, pinned on a real faust executor and broker.

- Its own changelog batches, which faust never takes, hold no fetch of its inbox back: each table
  write used to come back into aiokafka's buffer and hold every fetch for aiokafka's prefetch
  backoff (~100 ms, see ``kafka/executor/_fetching.py``); recovery after a restart is as before.
- A running execution's state is decoded once, not at every event.

Driven by the fake worker of ``test_kafka_executor``. Latency itself is measured in benchmarks/
(bench_kafka.py, bench_scripts.py), never asserted here.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator

import pytest
from test_kafka_executor import Harness, succeed

from kestra_stream.kafka import delete_topics
from kestra_stream.kafka.executor import KafkaExecutor
from kestra_stream.kafka.executor._fetching import UnreadBuffer
from kestra_stream.models.state import StateType


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[Harness]:
    async with Harness(kafka_bootstrap, succeed) as h:
        yield h
    delete_topics(h.settings)


async def changelog_batches(executor: KafkaExecutor) -> dict[tuple[str, int], float]:
    """The executor's changelog batches in its fetch buffer, once its writes came back (within 10 s)."""
    for _ in range(200):
        found = {tp: backoff for tp, backoff in (await executor.buffered_backoffs()).items()
                 if tp[0].endswith("-changelog")}
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no changelog batch was fetched back after the executor wrote its tables")


@pytest.mark.kafka
async def test_the_executors_own_changelog_batches_hold_no_fetch_back(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        final = await harness.finished(harness.create("three_logs"))
        batches = await changelog_batches(executor)
        second = await harness.finished(harness.create("three_logs"))
    finally:
        await executor.stop()
    assert final.execution.state.current is StateType.SUCCESS
    assert second.execution.state.current is StateType.SUCCESS
    assert batches and set(batches.values()) == {0.0}


@pytest.mark.kafka
async def test_a_restarted_executor_recovers_its_state_from_the_changelog_and_folds_on(harness: Harness) -> None:
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
        again = await harness.finished(harness.create("three_logs"))
        batches = await changelog_batches(second)
    finally:
        await second.stop()
    assert restored is not None and restored.execution.state.current is StateType.SUCCESS
    assert [tr.task_id for tr in restored.execution.task_run_list] == ["a", "b", "c"]
    assert again.execution.state.current is StateType.SUCCESS
    assert set(batches.values()) == {0.0}


def test_the_buffer_gives_no_backoff_to_unread_partitions_and_keeps_it_for_the_rest() -> None:
    class Result:
        def __init__(self) -> None:
            self._backoff = 0.1

    class TP:
        def __init__(self, topic: str) -> None:
            self.topic = topic

    buffer = UnreadBuffer(OrderedDict(), lambda topic: topic.endswith("-changelog"))
    changelog, inbox = Result(), Result()
    buffer[TP("app-executions-changelog")] = changelog
    buffer[TP("app.executor")] = inbox
    assert (changelog._backoff, inbox._backoff) == (0.0, 0.1)
    assert len(buffer) == 2


@pytest.mark.kafka
async def test_a_running_executions_state_is_decoded_once_and_an_ended_one_is_read_from_the_table(
        harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        execution_id = harness.create("long_sleeper")
        await harness.until(execution_id, lambda s: any(tr.task_id == "nap" for tr in s.execution.task_run_list))
        running = executor.state(execution_id)
        again = executor.state(execution_id)
        final = await harness.finished(execution_id)
        ended = executor.state(execution_id)
    finally:
        await executor.stop()
    assert running is not None and running is again
    assert running.execution.state.current is StateType.RUNNING
    assert ended is not None and ended == final and ended is not executor.state(execution_id)
