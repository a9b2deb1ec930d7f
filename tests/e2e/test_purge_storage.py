"""PurgeExecutions with purgeStorage deletes the purged executions' files from internal storage, on local
storage and on the real MinIO alike."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.models.state import StateType
from kestra_stream.storage import Storage, StorageSettings, execution_uri

WRITER = """
id: writer
namespace: e2e.purge
inputs:
  - id: who
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }}"
  - id: file
    type: io.kestra.plugin.core.log.Fetch
"""
PURGE = """
id: purge
namespace: e2e.other
tasks:
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: e2e.purge
    flowId: writer
    endDate: "{{ now() | dateAdd(1, 'MINUTES') }}"
    states: [SUCCESS]
"""


def _local(tmp_path: Path, request: pytest.FixtureRequest) -> Storage:
    return StorageSettings(type="local", path=tmp_path / "storage").build(tmp_path)


def _minio(tmp_path: Path, request: pytest.FixtureRequest) -> Storage:
    endpoint = request.getfixturevalue("minio_endpoint")
    access, secret = request.getfixturevalue("minio_credentials")
    return StorageSettings(type="minio", endpoint=endpoint, access_key=access, secret_key=secret,
                           bucket=f"e2e-{uuid.uuid4().hex[:12]}").build(tmp_path)


@pytest.mark.parametrize("make_storage", [pytest.param(_local, id="local"),
                                          pytest.param(_minio, id="minio", marks=pytest.mark.minio)])
async def test_purged_executions_leave_with_their_files_and_their_logs(
        tmp_path: Path, request: pytest.FixtureRequest, make_storage: object) -> None:
    storage = make_storage(tmp_path, request)  # type: ignore[operator]
    async with EmbeddedEngine(tmp_path / "home", storage=storage) as engine:
        engine.deploy(WRITER)
        engine.deploy(PURGE)
        written = [await engine.wait(await engine.create_execution("e2e.purge", "writer", {"who": who}), timeout=20)
                   for who in ("ada", "grace")]
        folders = [execution_uri("e2e.purge", "writer", e.id) for e in written]
        assert [len(await storage.list(folder)) for folder in folders] == [1, 1]

        purge = await engine.wait(await engine.create_execution("e2e.other", "purge", {}), timeout=20)
        assert purge.state.current == StateType.SUCCESS
        assert purge.task_run_list[0].outputs == {"executionsCount": 2, "logsCount": 2, "storagesCount": 2,
                                                  "metricsCount": 0}
        assert [await storage.list(folder) for folder in folders] == [[], []]
        assert [engine.state(e.id) for e in written] == [None, None]
