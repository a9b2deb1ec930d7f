"""A record of the executor inbox that no wire format version reads is dead-lettered, never skipped silently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from confluent_kafka import Consumer

from kestra_stream.kafka.executor import KafkaExecutor, create_executor
from kestra_stream.models.state import StateType
from tests.integration.test_kafka_executor import LOGS_FLOW, DictFlows, Harness, succeed

WAITS_FLOW = """
id: waits
namespace: test.kafka
tasks:
  - {id: before, type: io.kestra.plugin.core.log.Log, message: before}
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT10M}
"""
NEWER = b'{"v":99,"event_id":"x","execution_id":"ignored","at":"2026-01-01T00:00:00Z","kind":"teleported"}'


class WireHarness(Harness):
    def executor(self) -> KafkaExecutor:
        return create_executor(self.settings, DictFlows(LOGS_FLOW, WAITS_FLOW))

    def produce_raw(self, key: str, value: bytes) -> None:
        self.producer.produce(self.settings.topic("executor"), key=key, value=value)
        self.producer.flush(5)

    async def dead_letters(self, count: int, within: float = 60) -> list[tuple[bytes | None, bytes, dict[str, str]]]:
        consumer = Consumer(self.settings.client_config(**{
            "group.id": f"{self.settings.executor_app_id}-dlq-reader", "auto.offset.reset": "earliest"}))
        consumer.subscribe([self.settings.topic("dead_letters")])
        found: list[tuple[bytes | None, bytes, dict[str, str]]] = []
        deadline = time.monotonic() + within
        try:
            while len(found) < count:
                assert time.monotonic() < deadline, f"only {len(found)} of {count} dead letters arrived"
                message = await asyncio.to_thread(consumer.poll, 0.2)
                if message is None or message.error() is not None:
                    continue
                headers = {k: v.decode() for k, v in (message.headers() or []) if v is not None}
                found.append((message.key(), message.value() or b"", headers))
        finally:
            consumer.close()
        return found


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[WireHarness]:
    async with WireHarness(kafka_bootstrap, succeed) as h:
        yield h


async def test_an_unreadable_inbox_record_is_dead_lettered_and_fails_its_running_execution(
        harness: WireHarness) -> None:
    async with harness.executor() as executor:
        waiting = harness.create("waits")
        await harness.until(waiting, lambda s: any(tr.task_id == "nap" for tr in s.execution.task_run_list))
        harness.produce_raw(waiting, NEWER)
        harness.produce_raw("no-such-execution", b"\x00not json at all")
        failed = await harness.finished(waiting, within=60)
        # The partitions go on: a later execution ends as usual.
        later = harness.create("three_logs")
        assert (await harness.finished(later, within=60)).execution.state.current is StateType.SUCCESS
        letters = await harness.dead_letters(2)
        assert executor.dead_lettered.total == 2

    assert failed.execution.state.current is StateType.FAILED
    assert [tr.current for tr in failed.execution.taskruns_of("nap")] == [StateType.FAILED]
    by_key = {key: (value, headers) for key, value, headers in letters}
    value, headers = by_key[waiting.encode()]
    assert value == NEWER  # kept as it was, for a newer version or an operator
    assert headers["source.topic"] == harness.settings.topic("executor")
    assert int(headers["source.offset"]) >= 0
    assert "written by wire format version 99, newer than this version's 1" in headers["error"]
    garbage, garbage_headers = by_key[b"no-such-execution"]
    assert garbage == b"\x00not json at all" and "not JSON" in garbage_headers["error"]
