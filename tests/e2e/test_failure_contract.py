"""The executor's failure contract end to end, on both backends: a failure ends its execution, never hangs it.

A flowable plugin that raises, a task whose outputs or log lines are larger than a Kafka record may
be, an event naming a flow revision nobody deployed: each execution ends, and its logs say why.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from kestra_stream.backend import Backend
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.events import ExecutionCreated
from kestra_stream.ids import derive_id, new_id
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics, encode_event
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from tests.e2e.conftest import START_TIMEOUT, LoopThread, ThreadedBackend
from tests.failing_plugins import RAISING_FLOW, registry_with_failing_plugins

FLOW_WAIT_SECONDS = 1.0
BIG_OUTPUTS_FLOW = """
id: big_outputs
namespace: test.failing
tasks:
  - id: script
    type: io.kestra.plugin.scripts.python.Script
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    script: |
      from kestra import Kestra
      Kestra.outputs({"big": "x" * 11000000})
"""
BIG_LOG_FLOW = """
id: big_log
namespace: test.failing
tasks:
  - id: script
    type: io.kestra.plugin.scripts.python.Script
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    script: |
      print("y" * 3000000)
"""
HELLO_FLOW = """
id: hello
namespace: test.failing
tasks:
  - {id: hi, type: io.kestra.plugin.core.log.Log, message: hi}
"""
FLOWS = (RAISING_FLOW, BIG_OUTPUTS_FLOW, BIG_LOG_FLOW, HELLO_FLOW)


class KafkaUnderTest(ThreadedBackend):
    def __init__(self, stack: KafkaStack, loop: LoopThread) -> None:
        super().__init__(stack, loop)
        self.settings = stack.settings

    async def submit(self, event: ExecutionCreated) -> None:
        """An event straight onto the executor's inbox, as another process's API would produce it."""
        producer = Producer(self.settings.producer_config())
        producer.produce(self.settings.topic("executor"), key=event.execution_id, value=encode_event(event))
        assert await asyncio.to_thread(producer.flush, 10) == 0


@pytest.fixture(scope="module")
def kafka_stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaUnderTest]:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"fc-{uuid.uuid4().hex[:10]}.",
                             partitions=2, flow_wait_seconds=FLOW_WAIT_SECONDS)
    stack = KafkaStack(settings, home=tmp_path_factory.mktemp("kafka-home"), registry=registry_with_failing_plugins())
    loop = LoopThread("failure-contract-kafka")
    try:
        loop.run(stack.start(), START_TIMEOUT)
        for source in FLOWS:
            stack.deploy(source)
        yield KafkaUnderTest(stack, loop)
    finally:
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        delete_topics(settings)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "kafka":
        yield request.getfixturevalue("kafka_stack")
        return
    async with EmbeddedEngine(tmp_path / "home", registry=registry_with_failing_plugins(),
                              flow_wait_seconds=FLOW_WAIT_SECONDS) as engine:
        for source in FLOWS:
            engine.deploy(source)
        yield engine


async def logs_until(backend: Backend, execution_id: str, found: Callable[[list[LogEntry]], bool],
                     within: float = 30.0) -> list[LogEntry]:
    """Logs reach the Kafka backend's reader on their own topic, possibly after the final state."""
    deadline = time.monotonic() + within
    while True:
        logs = backend.logs(execution_id)
        if found(logs):
            return logs
        if time.monotonic() > deadline:
            raise AssertionError(f"log lines never showed up; saw {[e.message[:200] for e in logs]}")
        await asyncio.sleep(0.05)


def with_text(text: str) -> Callable[[list[LogEntry]], bool]:
    return lambda logs: any(text in e.message for e in logs)


async def test_a_flowable_whose_resolve_raises_ends_failed_with_the_error_in_its_logs(backend: Backend) -> None:
    execution_id = await backend.create_execution("test.failing", "raising")
    execution = await backend.wait(execution_id, timeout=60)

    assert execution.state.current is StateType.FAILED
    assert [tr.current for tr in execution.taskruns_of("broken")] == [StateType.FAILED]
    assert [tr.current for tr in execution.taskruns_of("handler")] == [StateType.SUCCESS]
    logs = await logs_until(backend, execution_id, with_text("RuntimeError: the plugin broke while resolving"))
    line = next(e for e in logs if "the plugin broke" in e.message)
    assert line.task_id == "broken" and "Traceback (most recent call last)" in line.message


async def test_a_task_with_11_mb_of_outputs_ends_and_never_hangs(backend: Backend,
                                                                request: pytest.FixtureRequest) -> None:
    execution_id = await backend.create_execution("test.failing", "big_outputs")
    execution = await backend.wait(execution_id, timeout=120)

    if request.node.callspec.params["backend"] == "embedded":
        # SQLite holds the outputs whole: there is no record size to exceed.
        [run] = execution.taskruns_of("script")
        assert execution.state.current is StateType.SUCCESS and len((run.outputs or {})["vars"]["big"]) == 11_000_000
        return
    assert execution.state.current is StateType.FAILED
    assert execution.taskruns_of("script")[0].outputs is None
    logs = await logs_until(backend, execution_id, with_text("The task's outputs: "))
    message = next(e.message for e in logs if "The task's outputs: " in e.message)
    assert "above the 1,000,000 bytes a Kafka record may hold (message.max.bytes)" in message
    assert "outputFiles" in message


@pytest.mark.kafka
async def test_a_log_line_larger_than_a_kafka_record_fails_the_task_saying_so(
        kafka_stack: KafkaUnderTest) -> None:
    execution_id = await kafka_stack.create_execution("test.failing", "big_log")
    execution = await kafka_stack.wait(execution_id, timeout=120)

    assert execution.state.current is StateType.FAILED
    logs = await logs_until(kafka_stack, execution_id, with_text("A log line: "))
    assert any("was dropped: above the 1,000,000 bytes" in e.message for e in logs)


async def test_an_execution_of_a_revision_nobody_deployed_fails_after_the_wait_naming_it(backend: Backend) -> None:
    execution_id = new_id()
    event = ExecutionCreated(event_id=derive_id("created", execution_id), execution_id=execution_id,
                             at=datetime.now(UTC), namespace="test.failing", flow_id="hello", flow_revision=42)
    began = time.monotonic()

    assert isinstance(backend, EmbeddedEngine | KafkaUnderTest)  # both take raw events
    await backend.submit(event)
    execution = await _ended(backend, execution_id)

    assert time.monotonic() - began >= FLOW_WAIT_SECONDS
    assert execution.state.current is StateType.FAILED and execution.flow_revision == 42
    logs = await logs_until(backend, execution_id, with_text("revision 42 is not known to the executor"))
    assert any("Flow test.failing.hello revision 42" in e.message for e in logs)


async def _ended(backend: Backend, execution_id: str, within: float = 60.0) -> Execution:
    deadline = time.monotonic() + within
    while True:
        state = backend.state(execution_id)
        if state is not None and state.finished:
            return state.execution
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {execution_id} never ended; last seen {state}")
        await asyncio.sleep(0.05)
