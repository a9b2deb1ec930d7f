"""What only the embedded backend has, end to end: its SQLite file, and an engine started again on one home.

Behaviour both backends share is tested on each of them in test_backends.py. These tests drive
``EmbeddedEngine`` through its public API, read its SQLite file to check what is (not) stored,
and bound real time with ``wait(..., timeout=...)`` or a polling deadline.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import InputError
from kestra_stream.executor.wire import EVENTS, STATES
from kestra_stream.models.execution import Execution, TaskRun
from kestra_stream.models.state import StateType
from tests._waiting import until

FLOWS = Path(__file__).parent / "flows"
NS = "e2e.engine"
DB_NAME = "kestra-stream.db"


# ----- helpers ---------------------------------------------------------------------------------


def deploy_all(engine: EmbeddedEngine) -> None:
    for path in sorted(FLOWS.glob("*.yaml")):
        engine.deploy(path.read_text(), file=str(path))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as running:
        deploy_all(running)
        yield running


def run_of(execution: Execution, task_id: str) -> TaskRun:
    runs = execution.taskruns_of(task_id)
    assert len(runs) == 1, f"expected one task run of {task_id}, got {len(runs)}"
    return runs[0]


def task_state(engine: EmbeddedEngine, execution_id: str, task_id: str) -> StateType | None:
    """None until the execution exists (its creation is folded asynchronously) and the task run too."""
    state = engine.state(execution_id)
    runs = state.execution.taskruns_of(task_id) if state is not None else []
    return runs[0].current if runs else None


def execution_state(engine: EmbeddedEngine, execution_id: str) -> StateType | None:
    state = engine.state(execution_id)
    return state.execution.state.current if state is not None else None


def visited(execution: Execution) -> list[StateType]:
    return [h.state for h in execution.state.histories]


def count_rows(home: Path, table: str) -> int:
    with sqlite3.connect(home / DB_NAME) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ----- nothing stored that should not be -------------------------------------------------------


@pytest.mark.parametrize("inputs", [
    {"count": "0", "code": "ABC"},  # below min
    {"count": "two", "code": "ABC"},  # not an INT
    {"count": "2", "code": "abc"},  # validator
    {"code": "ABC"},  # required and missing
])
async def test_rejected_inputs_raise_input_error_and_create_no_execution(
        engine: EmbeddedEngine, inputs: dict[str, str]) -> None:
    with pytest.raises(InputError):
        await engine.create_execution(NS, "typed_inputs", inputs, from_text=True)

    assert count_rows(engine.home, "events") == 0
    assert count_rows(engine.home, "executions") == 0


async def test_kill_during_a_retry_delay_drops_the_pending_retry_timer(engine: EmbeddedEngine,
                                                                       tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    execution_id = await engine.create_execution(NS, "retry_delay", {"marker": str(marker)})
    await until(lambda: task_state(engine, execution_id, "check") == StateType.RETRYING, "retrying")
    assert count_rows(engine.home, "timers") == 1

    await engine.kill(execution_id)
    assert (await engine.wait(execution_id, timeout=60)).state.current == StateType.KILLED
    # A cancelled timer row goes when it would have fired (after the retry interval).
    await until(lambda: count_rows(engine.home, "timers") == 0, "the cancelled retry timer row removed", within=30)


# ----- an engine started again on the same home ------------------------------------------------


async def test_a_pending_retry_timer_survives_a_stop_and_fires_in_the_next_engine(tmp_path: Path) -> None:
    home = tmp_path / "home"
    marker = tmp_path / "marker"
    async with EmbeddedEngine(home) as first:
        deploy_all(first)
        execution_id = await first.create_execution(NS, "retry_delay", {"marker": str(marker)})
        await until(lambda: task_state(first, execution_id, "check") == StateType.RETRYING, "retrying")
    assert count_rows(home, "timers") == 1

    marker.touch()
    async with EmbeddedEngine(home) as second:
        execution = await second.wait(execution_id, timeout=60)

    assert execution.state.current == StateType.SUCCESS
    check = run_of(execution, "check")
    assert [a.state.current for a in check.attempts] == [StateType.FAILED, StateType.SUCCESS]
    assert count_rows(home, "timers") == 0


async def test_queued_executions_still_run_after_the_engine_is_started_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with EmbeddedEngine(home) as first:
        deploy_all(first)
        ids = [await first.create_execution(NS, "concurrency_queue") for _ in range(3)]
        await until(lambda: execution_state(first, ids[0]) == StateType.RUNNING, "first running")

    async with EmbeddedEngine(home) as second:
        executions = [await second.wait(i, timeout=60) for i in ids]

    assert [e.state.current for e in executions] == [StateType.SUCCESS] * 3


async def test_restart_in_a_new_engine_of_an_execution_failed_in_an_earlier_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    marker = tmp_path / "marker"
    async with EmbeddedEngine(home) as first:
        deploy_all(first)
        execution_id = await first.create_execution(NS, "needs_file", {"marker": str(marker)})
        assert (await first.wait(execution_id, timeout=60)).state.current == StateType.FAILED

    marker.touch()
    async with EmbeddedEngine(home) as second:
        await second.restart(execution_id)

        def restarted() -> bool:
            state = second.state(execution_id)
            return state is not None and StateType.RESTARTED in visited(state.execution)

        await until(restarted, "restarted")
        execution = await second.wait(execution_id, timeout=60)

    assert execution.state.current == StateType.SUCCESS
    assert len(run_of(execution, "check").attempts) == 2


# ----- folds written in batches ----------------------------------------------------------------

GREET = """
id: greet
namespace: e2e.engine
inputs:
  - id: n
    type: STRING
tasks:
  - id: values
    type: io.kestra.plugin.core.output.OutputValues
    values:
      message: "hello {{ inputs.n }}"
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.values.values.message }}"
"""

LOG_THEN_PAUSE = """
id: log_then_pause
namespace: e2e.engine
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: before the pause
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
"""


def stored_rows(home: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / DB_NAME) as db:
        return list(db.execute(sql, params))


async def test_executions_created_together_are_each_stored_as_their_last_fold_left_them(
        engine: EmbeddedEngine) -> None:
    engine.deploy(GREET)
    # Requests arriving together are folded, and written, in the same batches.
    ids = await asyncio.gather(*(engine.create_execution(NS, "greet", {"n": str(n)}) for n in range(40)))
    executions = [await engine.wait(execution_id, timeout=120) for execution_id in ids]

    assert [e.state.current for e in executions] == [StateType.SUCCESS] * 40
    for n, execution_id in enumerate(ids):
        stored = STATES.decode(str(stored_rows(engine.home, "SELECT body FROM executions WHERE id = ?",
                                               execution_id)[0][0])).execution
        assert stored.state.current == StateType.SUCCESS
        assert run_of(stored, "values").outputs == {"values": {"message": f"hello {n}"}}
        assert [line.message for line in engine.logs(execution_id)] == [f"hello {n}"]
    # Every event is in the log, applied: the requests and the workers' results entered it with their fold.
    assert stored_rows(engine.home, "SELECT count(*) FROM events WHERE applied = 0") == [(0,)]
    kinds = Counter(EVENTS.decode(str(body)).kind for (body,) in stored_rows(engine.home, "SELECT body FROM events"))
    assert kinds["created"] == 40
    assert kinds["task_result"] == 80
    assert stored_rows(engine.home, "SELECT count(*) FROM jobs") == [(0,)]


async def test_a_line_logged_by_a_task_is_readable_at_once_and_stored_when_the_engine_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with EmbeddedEngine(home) as first:
        first.deploy(LOG_THEN_PAUSE)
        execution_id = await first.create_execution(NS, "log_then_pause")
        await until(lambda: execution_state(first, execution_id) == StateType.PAUSED, "paused")
        assert [line.message for line in first.logs(execution_id)] == ["before the pause"]

    assert [str(message) for (message,) in stored_rows(
        home, "SELECT json_extract(body, '$.message') FROM logs WHERE execution_id = ?", execution_id)] == [
        "before the pause"]
