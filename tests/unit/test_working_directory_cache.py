"""A WorkingDirectory's ``cache``: files matching its patterns outlive the execution and seed the next one's
directory, per flow, task and task-run value, while younger than ``ttl`` (on the embedded engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType

NS = "wd.cache"


def _flow(flow_id: str, cache: str, *, each: bool = False) -> str:
    wd = f"""\
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    cache:
{cache}
    tasks:
      - id: found
        type: io.kestra.plugin.core.storage.LocalFiles
        outputs: ["*.txt", "*.log"]
      - id: write
        type: io.kestra.plugin.core.storage.LocalFiles
        inputs:
          "{{{{ taskrun.value ?? 'all' }}}}.txt": "kept {{{{ execution.id }}}}"
          scratch.log: not kept
"""
    if each:
        indented = "".join(f"    {line}\n" for line in wd.splitlines())
        wd = f"  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [a, b]\n    tasks:\n{indented}"
    return f"id: {flow_id}\nnamespace: {NS}\ntasks:\n{wd}"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


async def _run(engine: EmbeddedEngine, flow_id: str) -> Execution:
    execution = await engine.wait(await engine.create_execution(NS, flow_id), timeout=120)
    assert execution.state.current == StateType.SUCCESS, execution
    return execution


def _found(execution: Execution) -> list[dict[str, Any]]:
    return [tr.outputs["uris"] for tr in execution.task_run_list if tr.task_id == "found" and tr.outputs]


async def test_the_next_execution_starts_with_the_cached_files_only(engine: EmbeddedEngine) -> None:
    engine.deploy(_flow("kept", '      patterns: ["*.txt"]\n      ttl: PT1H'))
    first = await _run(engine, "kept")
    assert _found(first) == [{}]
    second = await _run(engine, "kept")
    found = _found(second)
    assert set(found[0]) == {"all.txt"}  # scratch.log does not match the patterns
    assert (await engine.storage.get(found[0]["all.txt"])).decode() == f"kept {first.id}"


async def test_an_expired_cache_is_not_restored(engine: EmbeddedEngine) -> None:
    engine.deploy(_flow("expired", '      patterns: ["*.txt"]\n      ttl: PT0S'))
    await _run(engine, "expired")
    assert _found(await _run(engine, "expired")) == [{}]


async def test_each_value_of_a_loop_keeps_a_cache_of_its_own(engine: EmbeddedEngine) -> None:
    engine.deploy(_flow("looped", '          patterns: ["*.txt"]', each=True))
    await _run(engine, "looped")
    second = await _run(engine, "looped")
    assert sorted(sorted(found) for found in _found(second)) == [["a.txt"], ["b.txt"]]
