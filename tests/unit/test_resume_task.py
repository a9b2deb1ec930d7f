"""execution.Resume in the worker's real TaskRunContext: which execution, of which flow, it asks to resume."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core

from kestra_stream.executor.commands import RunTask
from kestra_stream.models.task import RunnableTask
from kestra_stream.storage import LocalStorage
from kestra_stream.worker import TaskRunContext
from kestra_stream.worker.services import Unavailable

NS = "company.team"


class _Recording(Unavailable):
    """Records each resume asked of it; every other service is unavailable."""

    def __init__(self) -> None:
        super().__init__("a unit test")
        self.resumed: list[tuple[str | None, str | None, str, Mapping[str, Any] | None]] = []

    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None:
        self.resumed.append((namespace, flow_id, execution_id, inputs))


async def _resume(tmp_path: Path, **raw: Any) -> list[tuple[str | None, str | None, str, Mapping[str, Any] | None]]:
    task = core.Resume.model_validate({"type": "io.kestra.plugin.core.execution.Resume", "id": "resume", **raw})
    assert isinstance(task, RunnableTask)
    job = RunTask(execution_id="E1", taskrun_id="R1", attempt=1, task=task, namespace=NS, flow_id="flow",
                  variables={"flow": {"id": "flow", "namespace": NS}, "execution": {"id": "E1"},
                             "task": {"id": "resume"}})
    services = _Recording()
    ctx = TaskRunContext(job, emit_log=lambda _: None, storage=LocalStorage(tmp_path / "storage"),
                         workdir_root=tmp_path / "work", environ={}, services=services)
    assert await task.run(ctx) is None
    return services.resumed


async def test_an_execution_id_alone_is_resumed_whatever_its_flow_as_kestra_finds_it_by_id(tmp_path: Path) -> None:
    resumed = await _resume(tmp_path, executionId="{{ 'E' ~ 2 }}", inputs={"answer": "{{ 40 + 2 }}"})
    assert resumed == [(None, None, "E2", {"answer": 42})]


async def test_flow_coordinates_set_by_the_user_are_passed_for_the_check(tmp_path: Path) -> None:
    resumed = await _resume(tmp_path, executionId="E2", namespace="other.ns", flowId="paused")
    assert resumed == [("other.ns", "paused", "E2", None)]


async def test_without_an_execution_id_it_resumes_its_own_execution(tmp_path: Path) -> None:
    assert await _resume(tmp_path) == [(NS, "flow", "E1", None)]
