"""Kestra's condition.HasRetryAttempt evaluated where Kestra evaluates it: in a Flow trigger, on the upstream
execution that just ended.

``execute`` runs one flow and no Flow trigger, so a compat case cannot show it. Here each backend (the
embedded engine, and a Kafka stack on topics of its own) runs the upstream flow and the Flow triggers
component starts (or not) the downstream flows. Flow ids are suffixed per test, for the Kafka stack
the module shares.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaStack
from kestra_stream.models.state import StateType
from kestra_stream.triggers import FlowTriggers
from tests._flow_trigger_setup import Setup, started_kafka_stack
from tests.e2e.conftest import LoopThread, ThreadedBackend

NS = "compat.flowconditions"

# Its task fails on the first attempt and succeeds on the retry, when `flaky` is set.
def upstream_flow(flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
inputs:
  - id: flaky
    type: BOOLEAN
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ inputs.flaky and taskrun.attemptsCount == 0 }}}}"
    errorMessage: not yet
    retry:
      type: constant
      interval: PT0.2S
      maxAttempts: 3
"""


def downstream(flow_id: str, upstream: str, retry_condition: str) -> str:
    return f"""
id: {flow_id}
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "after {{{{ trigger.executionId }}}}"
triggers:
  - id: on_upstream
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: {NS}
        flowId: {upstream}
      - type: io.kestra.plugin.core.condition.HasRetryAttempt
{retry_condition}"""


DOWNSTREAMS = {
    "any_retry": "",  # neither `in` nor `notIn`: any retried task run
    "failed_retry": "        in: [FAILED]\n",  # a retried task run with a FAILED attempt
    "killed_retry": "        in: [KILLED]\n",
    "retry_not_ended": "        notIn: [FAILED, SUCCESS]\n",  # every attempt here FAILED or SUCCESS
}


@pytest.fixture(scope="module")
def kafka_stack(kafka_bootstrap: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaStack, LoopThread]]:
    yield from started_kafka_stack(kafka_bootstrap, tmp_path_factory.mktemp("compat-flowcond"), "compat-flowcond")


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    if request.param == "kafka":
        stack, loop = request.getfixturevalue("kafka_stack")
        yield Setup(ThreadedBackend(stack, loop), stack.flows, tmp_path / "triggers")
        return
    async with EmbeddedEngine(tmp_path / "home") as engine:
        yield Setup(engine, engine.catalog, tmp_path / "triggers")


async def _started_by(setup: Setup, flaky: bool) -> tuple[str, dict[str, list[str]]]:
    """The upstream execution, and per downstream flow the upstream ids its executions were triggered by."""
    s = uuid.uuid4().hex[:8]
    backend = setup.backend
    created: dict[str, ExecutionState] = {}
    backend.subscribe(lambda state: created.__setitem__(state.execution.id, state))
    backend.deploy(upstream_flow(f"upstream_{s}"))
    for name, retry_condition in DOWNSTREAMS.items():
        backend.deploy(downstream(f"{name}_{s}", f"upstream_{s}", retry_condition))
    async with FlowTriggers(backend, setup.flows, home=setup.home) as triggers:
        upstream_id = await backend.create_execution(NS, f"upstream_{s}", {"flaky": flaky})
        upstream = await backend.wait(upstream_id, timeout=60)
        assert upstream.state.current == StateType.SUCCESS
        assert len(upstream.taskruns_of("flaky")[0].attempts) == (2 if flaky else 1)
        await asyncio.sleep(2.0)  # room for the trigger's executions to be created
        await triggers.drain()
    started: dict[str, list[str]] = {}
    for state in list(created.values()):
        execution = state.execution
        name = execution.flow_id.removesuffix(f"_{s}")
        if name in DOWNSTREAMS and execution.trigger is not None:
            started.setdefault(name, []).append(str(execution.trigger["variables"]["executionId"]))
    return upstream_id, started


async def test_has_retry_attempt_matches_an_upstream_that_retried_a_task_by_its_attempts_states(
        setup: Setup) -> None:
    upstream_id, started = await _started_by(setup, flaky=True)
    # The flaky task's attempts are FAILED then SUCCESS.
    assert started == {"any_retry": [upstream_id], "failed_retry": [upstream_id]}


async def test_has_retry_attempt_does_not_match_an_upstream_without_a_retry(
        setup: Setup) -> None:
    _, started = await _started_by(setup, flaky=False)
    assert started == {}
