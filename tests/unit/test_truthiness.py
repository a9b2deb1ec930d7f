"""One truthiness rule (Kestra's) for runIf, If, flow checks, SLA assertions and conditions."""

from __future__ import annotations

from typing import Any

import kestra_stream_plugin_core
import pytest
from kestra_stream_plugin_core import execution as core_execution
from kestra_stream_plugin_core import flow as core_flow

from kestra_stream.executor import _flow_rules, _working, checks
from kestra_stream.executor.memory import MemoryExecutor
from kestra_stream.executor.runtime import ManualClock
from kestra_stream.expressions import is_truthy
from kestra_stream.models.state import StateType
from tests.unit.test_executor_runtime import Revisions, created, succeed

TABLE: list[tuple[Any, bool]] = [
    # Texts, as a rendered expression gives them: false only for these, trimmed, in any case.
    ("false", False), ("FALSE", False), ("  false ", False), ("False", False), ("0", False), ("-0", False),
    ("", False), ("   ", False),
    ("true", True), ("1", True), ("yes", True), ("no", True), ("null", True), ("None", True), ("0.0", True),
    ("-1", True), ("This should be true", True),
    # Values that were not rendered into text.
    (None, False), (False, False), (True, True), (0, False), (0.0, False), (-0.0, False), (1, True), (-2.5, True),
    ([], False), ({}, False), ([0], True), ({"a": 1}, True), (object(), True),
]


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=[repr(v) for v, _ in TABLE])
def test_truthiness_follows_kestra(value: Any, expected: bool) -> None:
    assert is_truthy(value) is expected


def test_every_decision_on_a_rendered_value_uses_the_one_rule() -> None:
    for module in (_working, _flow_rules, checks, kestra_stream_plugin_core, core_flow, core_execution):
        assert module.is_truthy is is_truthy, module.__name__


RUN_IF_FLOW = """
id: run_if
namespace: test.runtime
inputs:
  - {id: v, type: STRING}
tasks:
  - {id: maybe, type: io.kestra.plugin.core.log.Log, message: ran, runIf: "{{ inputs.v }}"}
"""


@pytest.mark.parametrize(("text", "runs"), [("null", True), ("-0", False), (" FALSE ", False), ("ok", True)])
async def test_run_if_decides_by_the_rule(text: str, runs: bool) -> None:
    clock = ManualClock()
    flows = Revisions(clock)
    flows.add(RUN_IF_FLOW, 1)
    executor = MemoryExecutor(flows, worker=succeed, clock=clock)
    event = created("run_if")
    await executor.run(event.model_copy(update={"namespace": "test.runtime", "inputs": {"v": text}}))
    [maybe] = executor.states["x1"].execution.taskruns_of("maybe")
    assert maybe.current is (StateType.SUCCESS if runs else StateType.SKIPPED)
