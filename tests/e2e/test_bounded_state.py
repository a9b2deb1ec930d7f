"""On both backends, long-running components hold executions in flight, not history: an ended execution
leaves memory (on Kafka after the grace) and still restarts and replays, read back from where it is kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.models.state import StateType
from tests._waiting import until

FLOW = """
id: fails_once
namespace: test.bounded
tasks:
  - id: ok
    type: io.kestra.plugin.core.debug.Return
    format: fine
  - id: fails_first
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ taskrun.attemptsCount == 0 }}"
    errorMessage: fails on the first run only
"""
GRACE = 1.0
Stack = EmbeddedEngine | KafkaStack


def holds(stack: Stack, execution_id: str) -> bool:
    if isinstance(stack, EmbeddedEngine):
        return stack.held() > 0
    assert stack.executor is not None
    return stack.executor.state(execution_id) is not None or stack.executions.state(execution_id) is not None


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    if request.param == "embedded":
        async with EmbeddedEngine(tmp_path / "home", environ={}) as engine:
            engine.deploy(FLOW)
            yield engine
        return
    settings = KafkaSettings(bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
                             topic_prefix=f"bs-{uuid.uuid4().hex[:10]}.", partitions=2, ended_grace_seconds=GRACE)
    kafka = KafkaStack(settings, home=tmp_path / "home", environ={})
    try:
        async with kafka:
            kafka.deploy(FLOW)
            yield kafka
    finally:
        delete_topics(settings)


async def test_an_ended_execution_leaves_memory_and_still_restarts_and_replays(stack: Stack) -> None:
    first = await stack.requests.create_execution("test.bounded", "fails_once")
    assert (await stack.wait(first, timeout=60)).state.current is StateType.FAILED
    await until(lambda: not holds(stack, first), f"{first} is still held after it ended")

    await stack.requests.restart(first)
    restarted = await stack.wait(first, timeout=60)
    assert restarted.state.current is StateType.SUCCESS
    assert [len(tr.attempts) for tr in restarted.taskruns_of("fails_first")] == [2]
    await until(lambda: not holds(stack, first), f"{first} is still held after its restart ended")

    replayed = await stack.requests.replay(first)
    execution = await stack.wait(replayed, timeout=60)
    assert execution.state.current is StateType.SUCCESS and execution.original_id == first
    await until(lambda: not holds(stack, replayed), f"{replayed} is still held after it ended")
