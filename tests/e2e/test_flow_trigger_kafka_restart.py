"""Flow triggers on Kafka resume where they stopped: an upstream that ends while no flow-trigger
component runs still starts its downstream flow, once, when the component comes back.

One Kafka stack (executor and worker) serves the module; each test deploys its own flows and
gives its components a home of their own, so each has a consumer group of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.models.state import StateType
from kestra_stream.triggers._flow_source import GROUP_FILE, KafkaStateSource, flow_trigger_group_id
from kestra_stream.triggers._flow_triggers import FlowTriggers
from tests.e2e.conftest import E2E_ENVIRON, START_TIMEOUT, LoopThread, SeenExecutions, ThreadedBackend

NS = "e2e.flowtrig.restart"
WAIT = 30.0


class Kafka:
    def __init__(self, stack: KafkaStack, backend: ThreadedBackend) -> None:
        self.stack = stack
        self.backend = backend
        self.settings = stack.settings

    def triggers(self, home: Path) -> FlowTriggers:
        """A fresh component, as a restarted process would build it."""
        return FlowTriggers.on_kafka(self.backend, self.stack.flows, self.settings, home=home)

    async def run(self, flow_id: str) -> str:
        execution_id = await self.backend.create_execution(NS, flow_id)
        assert (await self.backend.wait(execution_id, timeout=WAIT)).state.current == StateType.SUCCESS
        return execution_id


@pytest.fixture(scope="module")
def kafka(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap,
                             topic_prefix=f"e2e-ftrestart-{uuid.uuid4().hex[:8]}.", partitions=2)
    stack = KafkaStack(settings, home=tmp_path_factory.mktemp("kafka-ftrestart"), environ=E2E_ENVIRON)
    loop = LoopThread("e2e-ftrestart-stack")
    try:
        loop.run(stack.start(), START_TIMEOUT)
        yield Kafka(stack, ThreadedBackend(stack, loop))
    finally:
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        delete_topics(settings)


def suffix() -> str:
    return uuid.uuid4().hex[:8]


def upstream_flow(flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "upstream {{{{ execution.id }}}}"
"""


def after_flow(flow_id: str, upstream: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "after {{{{ trigger.executionId }}}}"
outputs:
  - id: seen_id
    type: STRING
    value: "{{{{ trigger.executionId }}}}"
triggers:
  - id: on_upstream
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: {NS}
        flowId: {upstream}
"""


def after_both_flow(flow_id: str, first: str, second: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "after both"
triggers:
  - id: after_both
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - namespace: {NS}
          flowId: {first}
          states: [SUCCESS]
        - namespace: {NS}
          flowId: {second}
          states: [SUCCESS]
"""


def test_the_group_id_is_made_once_per_home_and_kept_in_it(tmp_path: Path) -> None:
    settings = KafkaSettings(topic_prefix="prod.")

    first = flow_trigger_group_id(tmp_path / "a", settings)

    assert first.startswith("prod-flow-triggers-")
    assert (tmp_path / "a" / GROUP_FILE).read_text().strip() == first
    assert flow_trigger_group_id(tmp_path / "a", settings) == first
    assert flow_trigger_group_id(tmp_path / "b", settings) != first


def test_a_group_id_given_explicitly_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    source = KafkaStateSource(KafkaSettings(), home=tmp_path, group_id="ops-flow-triggers")

    assert source.group_id == "ops-flow-triggers"
    assert not (tmp_path / GROUP_FILE).exists()


@pytest.mark.kafka
async def test_an_upstream_ending_while_the_component_is_stopped_starts_the_downstream_once_after_a_restart(
        kafka: Kafka, tmp_path: Path) -> None:
    s = suffix()
    kafka.backend.deploy(upstream_flow(f"a_{s}"))
    kafka.backend.deploy(after_flow(f"b_{s}", f"a_{s}"))
    seen = SeenExecutions(kafka.backend)
    home = tmp_path / "triggers"
    async with kafka.triggers(home) as first:  # the group's first start: its offsets are set at the end
        await first.caught_up()

    a_id = await kafka.run(f"a_{s}")  # no flow-trigger component runs now
    await asyncio.sleep(1.0)
    assert seen.of(f"b_{s}") == []

    async with kafka.triggers(home) as second:
        [b] = await seen.ended(f"b_{s}")
        await second.caught_up()
        assert second.fired == 1

    assert b.state.current == StateType.SUCCESS
    assert b.trigger is not None and b.trigger["variables"]["executionId"] == a_id

    async with kafka.triggers(home) as third:
        await third.caught_up()
        await asyncio.sleep(0.5)
        assert third.fired == 0
    assert len(seen.of(f"b_{s}")) == 1


@pytest.mark.kafka
async def test_a_first_start_does_not_replay_executions_that_ended_before_it(kafka: Kafka, tmp_path: Path) -> None:
    s = suffix()
    kafka.backend.deploy(upstream_flow(f"a_{s}"))
    kafka.backend.deploy(after_flow(f"b_{s}", f"a_{s}"))
    seen = SeenExecutions(kafka.backend)
    await kafka.run(f"a_{s}")

    async with kafka.triggers(tmp_path / "new") as triggers:
        await triggers.caught_up()
        await asyncio.sleep(0.5)
        assert triggers.fired == 0
        # Still live: the next end starts the downstream.
        await kafka.run(f"a_{s}")
        await seen.ended(f"b_{s}")
        await triggers.caught_up()
        assert triggers.fired == 1

    assert len(seen.of(f"b_{s}")) == 1


@pytest.mark.kafka
async def test_preconditions_met_while_the_component_is_stopped_fire_once_after_a_restart(
        kafka: Kafka, tmp_path: Path) -> None:
    s = suffix()
    for name in (f"a_{s}", f"d_{s}"):
        kafka.backend.deploy(upstream_flow(name))
    kafka.backend.deploy(after_both_flow(f"c_{s}", f"a_{s}", f"d_{s}"))
    seen = SeenExecutions(kafka.backend)
    home = tmp_path / "triggers"
    async with kafka.triggers(home) as first:
        await kafka.run(f"a_{s}")
        await first.caught_up()
        assert list(first.preconditions) == [f"{NS}/c_{s}/after_both/both"]

    await kafka.run(f"d_{s}")
    await kafka.run(f"a_{s}")  # a second end of a while stopped: still one firing for the pair

    async with kafka.triggers(home) as second:
        await seen.ended(f"c_{s}")
        await second.caught_up()
        assert second.fired == 1
    await asyncio.sleep(0.5)
    assert len(seen.of(f"c_{s}")) == 1
