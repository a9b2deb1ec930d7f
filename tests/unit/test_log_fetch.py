"""log.Fetch in the worker's real TaskRunContext, over the embedded engine's SQLite store of log lines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core
import pytest
from pydantic import ValidationError

from kestra_stream.embedded._store import Store
from kestra_stream.errors import TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.storage import LocalStorage
from kestra_stream.worker import TaskRunContext, run_attempt
from kestra_stream.worker.services import StoreLogs

NS = "company.team"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _fetch(**raw: Any) -> RunnableTask:
    task = core.Fetch.model_validate({"type": "io.kestra.plugin.core.log.Fetch", "id": "fetch", **raw})
    assert isinstance(task, RunnableTask)
    return task


def _job(task: RunnableTask) -> RunTask:
    return RunTask(execution_id="E1", taskrun_id="R9", attempt=1, task=task, namespace=NS, flow_id="flow",
                   variables={"flow": {"id": "flow", "namespace": NS}, "execution": {"id": "E1"},
                              "task": {"id": "fetch"}})


def _line(n: int, task_id: str, level: LogLevel, *, execution_id: str = "E1", flow_id: str = "flow") -> LogEntry:
    return LogEntry(execution_id=execution_id, namespace=NS, flow_id=flow_id, task_id=task_id, taskrun_id=f"R{n}",
                    attempt_number=1, level=level, message=f"line {n}", timestamp=T0 + timedelta(seconds=n))


class _Services(StoreLogs):
    """The engine's log source; Fetch resumes nothing."""

    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None:
        raise AssertionError("log.Fetch resumed an execution")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "engine.db")
    store.add_logs([_line(1, "a", LogLevel.INFO), _line(2, "b", LogLevel.WARN), _line(3, "a", LogLevel.DEBUG),
                    _line(4, "b", LogLevel.ERROR), _line(5, "a", LogLevel.INFO, execution_id="E2"),
                    _line(6, "a", LogLevel.INFO, execution_id="E3", flow_id="other")])
    return store


async def _run(store: Store, tmp_path: Path, **raw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    storage = LocalStorage(tmp_path / "storage")
    ctx = TaskRunContext(_job(_fetch(**raw)), emit_log=lambda _: None, storage=storage,
                         workdir_root=tmp_path / "work", environ={}, services=_Services(store))
    outputs = dict(await _fetch(**raw).run(ctx) or {})
    lines = (await storage.get(outputs["uri"])).decode().splitlines()
    return outputs, [json.loads(line) for line in lines]


async def test_fetch_writes_the_current_executions_lines_at_info_and_above_one_json_object_a_line(
        store: Store, tmp_path: Path) -> None:
    outputs, lines = await _run(store, tmp_path)
    assert outputs["size"] == 3
    assert str(outputs["uri"]).endswith("fetch.ion")
    assert [(line["taskId"], line["level"], line["message"]) for line in lines] == [
        ("a", "INFO", "line 1"), ("b", "WARN", "line 2"), ("b", "ERROR", "line 4")]
    assert lines[0]["executionId"] == "E1" and lines[0]["taskRunId"] == "R1"


async def test_fetch_level_is_the_lowest_level_kept(store: Store, tmp_path: Path) -> None:
    assert (await _run(store, tmp_path, level="WARN"))[0]["size"] == 2
    assert (await _run(store, tmp_path, level="DEBUG"))[0]["size"] == 4


async def test_fetch_tasks_id_keeps_those_tasks_lines_task_by_task_in_the_order_given(
        store: Store, tmp_path: Path) -> None:
    outputs, lines = await _run(store, tmp_path, tasksId=["b", "a"], level="DEBUG")
    assert outputs["size"] == 4
    assert [line["message"] for line in lines] == ["line 2", "line 4", "line 1", "line 3"]


async def test_fetch_execution_id_reads_another_execution_of_the_same_flow_only(
        store: Store, tmp_path: Path) -> None:
    assert (await _run(store, tmp_path, executionId="{{ 'E' ~ 2 }}"))[0]["size"] == 1
    # E3 is another flow's: without its namespace and flowId nothing of it is read, as in Kestra.
    assert (await _run(store, tmp_path, executionId="E3"))[0]["size"] == 0
    assert (await _run(store, tmp_path, executionId="E3", namespace=NS, flowId="other"))[0]["size"] == 1


@pytest.mark.parametrize(("raw", "message"), [
    ({"executionId": "E2", "namespace": NS}, "Both `namespace` and `flowId` must be set"),
    ({"flowId": "flow"}, "should only be set when `executionId` is set"),
    ({"level": "LOUD"}, "level"),
    ({"tenantId": "main"}, "tenantId"),
])
def test_fetch_refuses_incomplete_coordinates_and_unknown_properties(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _fetch(**raw)


async def test_fetch_on_a_worker_without_a_store_of_executions_fails_saying_why(tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    result = await run_attempt(_job(_fetch()), emit_log=logs.append, storage=LocalStorage(tmp_path / "storage"),
                               workdir_root=tmp_path / "work")
    assert result.state == StateType.FAILED
    assert any("cannot be read here" in line.message for line in logs), logs


async def test_the_unavailable_services_raise_a_task_failure(tmp_path: Path) -> None:
    ctx = TaskRunContext(_job(_fetch()), emit_log=lambda _: None, storage=LocalStorage(tmp_path / "s"),
                         workdir_root=tmp_path / "work", environ={})
    with pytest.raises(TaskFailure, match="runs without a store of executions"):
        await ctx.execution_logs("E1")
