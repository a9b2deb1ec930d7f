"""logToFile: a task's log lines go to a file in internal storage, whose URI the attempt carries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core
import pytest
from fold_driver import Driver, flow

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import TaskResult
from kestra_stream.models.execution import Attempt
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import State, StateType
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream.storage import LocalStorage, StorageError, task_uri
from kestra_stream.worker import run_attempt
from kestra_stream.worker._log_file import format_line

NS = "company.team"


class _LogThenWait(RunnableTask):
    """Logs one line, then waits until cancelled (a killed attempt)."""

    async def run(self, ctx: RunContext) -> None:
        ctx.log(LogLevel.INFO, "before the kill")
        await asyncio.Event().wait()


class _NoWrites(LocalStorage):
    """Internal storage that refuses every write (a bucket gone read-only)."""

    async def put(self, uri: str, data: bytes | Path) -> str:
        raise StorageError(f"cannot write {uri}: read-only")


def _job(task: RunnableTask, attempt: int = 1) -> RunTask:
    return RunTask(execution_id="E1", taskrun_id="R1", attempt=attempt, task=task, namespace=NS, flow_id="flow",
                   variables={"flow": {"id": "flow", "namespace": NS}, "execution": {"id": "E1"},
                              "task": {"id": task.id}})


def _log_task(**raw: Any) -> RunnableTask:
    task = core.Log.model_validate({"type": "io.kestra.plugin.core.log.Log", "id": "noisy", **raw})
    assert isinstance(task, RunnableTask)
    return task


async def test_a_task_with_log_to_file_writes_its_lines_to_a_file_and_none_to_the_log_stream(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    logs: list[LogEntry] = []
    result = await run_attempt(_job(_log_task(logToFile=True, message=["first line", "second line"]), attempt=2),
                               emit_log=logs.append, storage=storage, workdir_root=tmp_path / "work")
    assert result.state == StateType.SUCCESS
    assert logs == []
    assert result.log_file == task_uri(NS, "flow", "E1", "noisy", "R1", "log-attempt-2.txt")
    lines = (await storage.get(result.log_file)).decode().splitlines()
    assert [line[len("2026-01-02T03:04:05.678Z "):] for line in lines] == ["INFO  first line", "INFO  second line"]
    assert list((tmp_path / "work").iterdir()) == []  # the local spool is gone


async def test_a_task_without_log_to_file_logs_to_the_stream_and_its_attempt_has_no_file(tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    result = await run_attempt(_job(_log_task(message="hello")), emit_log=logs.append,
                               storage=LocalStorage(tmp_path / "storage"), workdir_root=tmp_path / "work")
    assert [line.message for line in logs] == ["hello"]
    assert result.log_file is None


async def test_a_task_with_log_to_file_still_keeps_only_lines_at_its_log_level(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    job = _job(_log_task(logToFile=True, message="quiet", level="DEBUG")).model_copy(
        update={"min_log_level": LogLevel.INFO})
    result = await run_attempt(job, emit_log=lambda _: None, storage=storage, workdir_root=tmp_path / "work")
    assert result.log_file is not None
    assert await storage.get(result.log_file) == b""


async def test_a_killed_attempt_with_log_to_file_hands_its_lines_to_the_log_stream(tmp_path: Path) -> None:
    task = _LogThenWait.model_validate({"type": "test.LogThenWait", "id": "waits", "logToFile": True})
    logs: list[LogEntry] = []
    running = asyncio.create_task(run_attempt(_job(task), emit_log=logs.append,
                                              storage=LocalStorage(tmp_path / "storage"),
                                              workdir_root=tmp_path / "work"))
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert [line.message for line in logs] == ["before the kill"]


async def test_a_log_file_that_cannot_be_stored_sends_its_lines_to_the_log_stream_with_a_warning(
        tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    result = await run_attempt(_job(_log_task(logToFile=True, message="kept")), emit_log=logs.append,
                               storage=_NoWrites(tmp_path / "storage"), workdir_root=tmp_path / "work")
    assert result.log_file is None
    assert result.state == StateType.SUCCESS
    assert logs[0].message == "kept"
    assert logs[1].level == LogLevel.WARN and "read-only" in logs[1].message and "logToFile" in logs[1].message


def test_a_file_line_holds_the_time_the_level_and_the_message() -> None:
    entry = LogEntry(execution_id="E1", namespace=NS, flow_id="flow", level=LogLevel.WARN, message="careful",
                     timestamp=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    assert format_line(entry) == "2026-01-02T03:04:05.678Z WARN  careful\n"


def test_an_attempt_serializes_its_log_file_as_kestra_does() -> None:
    attempt = Attempt(state=State.new(StateType.SUCCESS, datetime(2026, 1, 1, tzinfo=UTC)),
                      log_file="kestra:///company/team/flow/executions/E1/tasks/t/R1/log-attempt-1.txt")
    dumped = attempt.model_dump(mode="json")
    assert dumped["logFile"].endswith("log-attempt-1.txt")
    assert Attempt.model_validate(dumped) == attempt


def test_the_executor_records_the_log_file_of_an_attempt_and_keeps_it_when_the_attempt_ends() -> None:
    d = Driver(flow("tasks:\n  - id: noisy\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
                    "    logToFile: true\n"))
    d.create()
    job = d.job("noisy")
    uri = task_uri("tests.fold", "f", job.execution_id, "noisy", job.taskrun_id, "log-attempt-1.txt")
    d.send(TaskResult(event_id=d.next_event_id(), execution_id=job.execution_id, at=d.now,
                      taskrun_id=job.taskrun_id, attempt=1, state=StateType.SUCCESS, log_file=uri))
    attempt = d.taskrun("noisy").attempts[-1]
    assert (attempt.state.current, attempt.log_file) == (StateType.SUCCESS, uri)
    assert d.execution.state.current == StateType.SUCCESS
