"""Flow triggers end to end on both backends: an upstream end starts the downstream flow once.

Each test deploys its own flows (ids suffixed per test), so that the Kafka stack shared by the
module never sees another test's triggers fire.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.kafka import KafkaStack
from kestra_stream.models.state import StateType
from kestra_stream.triggers import FlowTriggers
from tests._flow_trigger_setup import Setup, started_kafka_stack
from tests._waiting import until
from tests.e2e.conftest import E2E_ENVIRON, LoopThread, SeenExecutions, ThreadedBackend

NS = "e2e.flowtrig"
WAIT = 30.0


@pytest.fixture(scope="module")
def kafka_setup(kafka_bootstrap: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaStack, LoopThread]]:
    yield from started_kafka_stack(kafka_bootstrap, tmp_path_factory.mktemp("e2e-flowtrig"), "e2e-flowtrig")


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    if request.param == "kafka":
        stack, loop = request.getfixturevalue("kafka_setup")
        yield Setup(ThreadedBackend(stack, loop), stack.flows, tmp_path / "triggers")
        return
    async with EmbeddedEngine(tmp_path / "home", environ=E2E_ENVIRON) as engine:
        yield Setup(engine, engine.catalog, tmp_path / "home")


def suffix() -> str:
    return uuid.uuid4().hex[:8]


def upstream_flow(flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
inputs:
  - id: fail
    type: BOOLEAN
    defaults: false
tasks:
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ inputs.fail }}}}"
outputs:
  - id: x
    type: STRING
    value: "x-of-{{{{ execution.id }}}}"
"""


def on_success_flow(flow_id: str, upstream: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
inputs:
  - id: upstream_x
    type: STRING
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "after {{{{ trigger.executionId }}}}"
outputs:
  - id: seen_id
    type: STRING
    value: "{{{{ trigger.executionId }}}}"
  - id: seen_x
    type: STRING
    value: "{{{{ trigger.outputs.x }}}}"
triggers:
  - id: on_upstream
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    inputs:
      upstream_x: "{{{{ trigger.outputs.x }}}}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: {NS}
        flowId: {upstream}
"""


async def test_flow_trigger_starts_the_downstream_once_on_success_with_trigger_variables(setup: Setup) -> None:
    s = suffix()
    setup.backend.deploy(upstream_flow(f"a_{s}"))
    setup.backend.deploy(on_success_flow(f"b_{s}", f"a_{s}"))
    seen = SeenExecutions(setup.backend)
    # Two components on one backend, as two processes would be: the end still starts one execution.
    async with FlowTriggers(setup.backend, setup.flows, home=setup.home / "one"), \
            FlowTriggers(setup.backend, setup.flows, home=setup.home / "two"):
        a_id = await setup.backend.create_execution(NS, f"a_{s}")
        assert (await setup.backend.wait(a_id, timeout=WAIT)).state.current == StateType.SUCCESS
        [b] = await seen.ended(f"b_{s}")
        await asyncio.sleep(1.0)  # room for a (wrong) second execution to show up

    assert len(seen.of(f"b_{s}")) == 1
    assert b.state.current == StateType.SUCCESS
    assert b.outputs == {"seen_id": a_id, "seen_x": f"x-of-{a_id}"}
    assert b.inputs == {"upstream_x": f"x-of-{a_id}"}
    assert b.trigger is not None and b.trigger["id"] == "on_upstream"
    assert b.trigger["type"] == "io.kestra.plugin.core.trigger.Flow"


async def test_flow_trigger_on_success_does_not_start_the_downstream_when_the_upstream_fails(
        setup: Setup) -> None:
    s = suffix()
    setup.backend.deploy(upstream_flow(f"a_{s}"))
    setup.backend.deploy(on_success_flow(f"b_{s}", f"a_{s}"))
    seen = SeenExecutions(setup.backend)
    async with FlowTriggers(setup.backend, setup.flows, home=setup.home) as triggers:
        a_id = await setup.backend.create_execution(NS, f"a_{s}", {"fail": True})
        assert (await setup.backend.wait(a_id, timeout=WAIT)).state.current == StateType.FAILED
        await asyncio.sleep(1.0)
        await triggers.drain()

    assert seen.of(f"b_{s}") == []


def both_flow(flow_id: str, first: str, second: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "after {{{{ trigger.flowId }}}}"
outputs:
  - id: last
    type: STRING
    value: "{{{{ trigger.flowId }}}}"
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


async def test_preconditions_start_the_downstream_once_after_both_upstream_flows(setup: Setup) -> None:
    s = suffix()
    for name in (f"a_{s}", f"d_{s}"):
        setup.backend.deploy(upstream_flow(name))
    setup.backend.deploy(both_flow(f"c_{s}", f"a_{s}", f"d_{s}"))
    seen = SeenExecutions(setup.backend)
    async with FlowTriggers(setup.backend, setup.flows, home=setup.home) as triggers:
        a_id = await setup.backend.create_execution(NS, f"a_{s}")
        await setup.backend.wait(a_id, timeout=WAIT)
        await until(lambda: list(triggers.preconditions) == [f"{NS}/c_{s}/after_both/both"],
                    "the end of a recorded in the precondition")
        await triggers.drain()
        assert seen.of(f"c_{s}") == []

        d_id = await setup.backend.create_execution(NS, f"d_{s}")
        await setup.backend.wait(d_id, timeout=WAIT)
        [c] = await seen.ended(f"c_{s}")
        await asyncio.sleep(1.0)

    assert len(seen.of(f"c_{s}")) == 1
    assert c.state.current == StateType.SUCCESS
    assert c.outputs == {"last": f"d_{s}"}


async def test_precondition_state_survives_a_restart_of_the_component(setup: Setup) -> None:
    s = suffix()
    for name in (f"a_{s}", f"d_{s}"):
        setup.backend.deploy(upstream_flow(name))
    setup.backend.deploy(both_flow(f"c_{s}", f"a_{s}", f"d_{s}"))
    seen = SeenExecutions(setup.backend)
    async with FlowTriggers(setup.backend, setup.flows, home=setup.home) as first:
        await setup.backend.wait(await setup.backend.create_execution(NS, f"a_{s}"), timeout=WAIT)
        await until(lambda: bool(first.preconditions), "the end of a recorded in the precondition")

    async with FlowTriggers(setup.backend, setup.flows, home=setup.home) as second:
        assert list(second.preconditions) == [f"{NS}/c_{s}/after_both/both"]
        await setup.backend.wait(await setup.backend.create_execution(NS, f"d_{s}"), timeout=WAIT)
        await seen.ended(f"c_{s}")
        await until(lambda: second.preconditions == {}, "the precondition reset once it fired")

    assert len(seen.of(f"c_{s}")) == 1


def queued_flow(flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
concurrency:
  limit: 1
  behavior: QUEUE
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.2S
"""


async def test_a_queue_limited_flow_started_five_times_runs_its_executions_in_creation_order(
        setup: Setup) -> None:
    flow_id = f"q_{suffix()}"
    setup.backend.deploy(queued_flow(flow_id))

    ids = [await setup.backend.create_execution(NS, flow_id) for _ in range(5)]
    executions = [await setup.backend.wait(i, timeout=WAIT) for i in ids]

    assert [e.state.current for e in executions] == [StateType.SUCCESS] * 5
    running_at = {e.id: next(h.date for h in e.state.histories if h.state == StateType.RUNNING)
                  for e in executions}
    assert sorted(ids, key=lambda i: running_at[i]) == ids
