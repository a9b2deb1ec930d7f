"""Kestra's condition.HasRetryAttempt evaluated where Kestra evaluates it: in a Flow trigger, on the upstream
execution that just ended.

``execute`` runs one flow and no Flow trigger, so a compat case cannot show it. Here the embedded
engine runs the upstream flow and the Flow triggers component starts (or not) the downstream flows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.state import StateType
from kestra_stream.triggers import FlowTriggers

NS = "compat.flowconditions"

# Its task fails on the first attempt and succeeds on the retry, when `flaky` is set.
UPSTREAM = f"""
id: upstream
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


def downstream(flow_id: str, retry_condition: str) -> str:
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
        flowId: upstream
      - type: io.kestra.plugin.core.condition.HasRetryAttempt
{retry_condition}"""


DOWNSTREAMS = {
    "any_retry": "",  # neither `in` nor `notIn`: any retried task run
    "failed_retry": "        in: [FAILED]\n",  # a retried task run with a FAILED attempt
    "killed_retry": "        in: [KILLED]\n",
    "retry_not_ended": "        notIn: [FAILED, SUCCESS]\n",  # every attempt here FAILED or SUCCESS
}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


async def _started_by(engine: EmbeddedEngine, home: Path, flaky: bool) -> tuple[str, dict[str, list[str]]]:
    """The upstream execution, and per downstream flow the upstream ids its executions were triggered by."""
    created: dict[str, ExecutionState] = {}
    engine.subscribe(lambda state: created.__setitem__(state.execution.id, state))
    engine.deploy(UPSTREAM)
    for flow_id, retry_condition in DOWNSTREAMS.items():
        engine.deploy(downstream(flow_id, retry_condition))
    async with FlowTriggers(engine, engine.catalog, home=home) as triggers:
        upstream_id = await engine.create_execution(NS, "upstream", {"flaky": flaky})
        upstream = await engine.wait(upstream_id, timeout=60)
        assert upstream.state.current == StateType.SUCCESS
        assert len(upstream.taskruns_of("flaky")[0].attempts) == (2 if flaky else 1)
        await asyncio.sleep(1.0)  # room for the trigger's executions to be created
        await triggers.drain()
    started: dict[str, list[str]] = {}
    for state in created.values():
        execution = state.execution
        if execution.flow_id in DOWNSTREAMS and execution.trigger is not None:
            started.setdefault(execution.flow_id, []).append(str(execution.trigger["variables"]["executionId"]))
    return upstream_id, started


async def test_has_retry_attempt_matches_an_upstream_that_retried_a_task_by_its_attempts_states(
        engine: EmbeddedEngine, tmp_path: Path) -> None:
    upstream_id, started = await _started_by(engine, tmp_path / "triggers", flaky=True)
    # The flaky task's attempts are FAILED then SUCCESS.
    assert started == {"any_retry": [upstream_id], "failed_retry": [upstream_id]}


async def test_has_retry_attempt_does_not_match_an_upstream_without_a_retry(
        engine: EmbeddedEngine, tmp_path: Path) -> None:
    _, started = await _started_by(engine, tmp_path / "triggers", flaky=False)
    assert started == {}
