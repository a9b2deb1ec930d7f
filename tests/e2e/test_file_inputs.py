"""FILE inputs land in internal storage before the execution starts; script tasks read them and
upload their output files, on local storage and on the real MinIO alike."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import InputError
from kestra_stream.models.state import StateType
from kestra_stream.storage import Storage, StorageSettings

FLOW = """
id: files
namespace: e2e.files
inputs:
  - id: data
    type: FILE
tasks:
  - id: count
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      data.csv: "{{ inputs.data }}"
    outputFiles:
      - "*.txt"
    commands:
      - wc -l < data.csv | tr -d ' ' > count.txt
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
async def test_a_file_input_is_stored_read_by_a_script_and_its_output_file_uploaded(
        tmp_path: Path, request: pytest.FixtureRequest, make_storage: object) -> None:
    storage = make_storage(tmp_path, request)  # type: ignore[operator]
    data = tmp_path / "data.csv"
    data.write_text("a\nb\nc\n")
    async with EmbeddedEngine(tmp_path / "home", storage=storage) as engine:
        engine.deploy(FLOW)
        execution_id = await engine.create_execution("e2e.files", "files", {"data": data.as_uri()})
        execution = await engine.wait(execution_id, timeout=20)

    assert execution.state.current == StateType.SUCCESS
    stored = execution.inputs["data"] if execution.inputs else None
    assert stored == f"kestra:///e2e/files/files/executions/{execution_id}/inputs/data/data.csv"
    assert await storage.get(stored) == b"a\nb\nc\n"
    outputs = execution.task_run_list[0].outputs or {}
    count_uri = outputs["outputFiles"]["count.txt"]
    assert (await storage.get(count_uri)).strip() == b"3"


async def test_a_missing_local_file_is_an_input_error_and_no_execution(tmp_path: Path) -> None:
    async with EmbeddedEngine(tmp_path / "home") as engine:
        engine.deploy(FLOW)
        with pytest.raises(InputError, match=r"'data'.*not a readable file"):
            await engine.create_execution("e2e.files", "files", {"data": (tmp_path / "absent.csv").as_uri()})
