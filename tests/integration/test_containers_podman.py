"""Script tasks and docker.Run in containers of a real engine: Podman's Docker API, a locally built image."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from kestra_stream_plugin_scripts import HOST_SETTING, run_container
from kestra_stream_plugin_scripts._docker import ContainerOptions, ContainerRun

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import TaskFailure
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from tests._podman import container_image, podman_host

__all__ = ["container_image", "podman_host"]

NS = "containers.podman"
DOCKER_RUNNER = {"type": "io.kestra.plugin.scripts.runner.docker.Docker"}


@pytest.fixture
async def engine(tmp_path: Path, podman_host: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmbeddedEngine]:
    monkeypatch.setenv(HOST_SETTING, podman_host)
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


async def until(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def run_flow(engine: EmbeddedEngine, flow: dict[str, Any]) -> Execution:
    deployed = engine.deploy(json.dumps({"namespace": NS, **flow}))
    execution = await engine.wait(await engine.create_execution(deployed.namespace, deployed.id), timeout=120)
    assert execution.state.current == StateType.SUCCESS, [
        (tr.task_id, tr.state.current) for tr in execution.task_run_list]
    return execution


def outputs_of(execution: Execution, task_id: str) -> dict[str, Any]:
    run = next(tr for tr in execution.task_run_list if tr.task_id == task_id)
    assert run.outputs is not None
    return run.outputs


async def test_a_python_script_in_a_local_image_writes_a_file_that_the_next_task_reads(
        engine: EmbeddedEngine, container_image: str) -> None:
    execution = await run_flow(engine, {"id": "files_between_containers", "tasks": [
        {"id": "write", "type": "io.kestra.plugin.scripts.python.Script", "taskRunner": DOCKER_RUNNER,
         "containerImage": container_image, "outputFiles": ["report.txt"],
         "env": {"GREETING": "from the container"},
         "script": "import os, sys\nopen('report.txt', 'w').write(os.environ['GREETING'] + ' ' + sys.executable)"},
        {"id": "read", "type": "io.kestra.plugin.scripts.python.Script", "taskRunner": DOCKER_RUNNER,
         "containerImage": container_image, "inputFiles": {"in.txt": "{{ outputs.write.outputFiles['report.txt'] }}"},
         "script": "import json\ntext = open('in.txt').read()\n"
                   "print('::' + json.dumps({'outputs': {'text': text}}) + '::')"},
    ]})

    # The image's interpreter, not the worker's.
    assert outputs_of(execution, "read")["vars"]["text"] == "from the container /bin/python"


async def test_docker_run_runs_its_command_and_returns_its_outputs_and_files(
        engine: EmbeddedEngine, container_image: str) -> None:
    execution = await run_flow(engine, {"id": "docker_run", "tasks": [
        {"id": "run", "type": "io.kestra.plugin.docker.Run", "containerImage": container_image,
         "pullPolicy": "NEVER", "cpu": {"cpus": 0.5}, "memory": {"memory": "128m"},
         "inputFiles": {"numbers.txt": "1\n2\n3\n"}, "outputFiles": ["sum.txt"],
         "commands": ["python3", "-c",
                      "n = sum(int(x) for x in open('numbers.txt'))\nopen('sum.txt', 'w').write(str(n))\n"
                      "limit = open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip()\n"
                      "print('::{\"outputs\": {\"sum\": %d, \"memory\": %s}}::' % (n, limit))"]},
    ]})

    outputs = outputs_of(execution, "run")
    assert outputs["vars"] == {"sum": 6, "memory": 128 * 1024 * 1024}
    assert (await engine.storage.get(outputs["outputFiles"]["sum.txt"])) == b"6"


async def test_the_pull_policy_decides_whether_the_engine_is_asked_to_pull(
        podman_host: str, container_image: str, tmp_path: Path) -> None:
    def run(image: str, policy: str) -> ContainerRun:
        return ContainerRun(image=image, command=["true"], workdir=tmp_path,
                            options=ContainerOptions.model_validate({"host": podman_host, "pullPolicy": policy}))

    def ignore(_line: str, _is_stderr: bool) -> None:
        pass

    # No registry answers from these machines: a pull fails, so a local image that runs was not pulled.
    assert await run_container(run(container_image, "IF_NOT_PRESENT"), ignore) == 0
    assert await run_container(run(container_image, "NEVER"), ignore) == 0
    with pytest.raises(TaskFailure, match=r"could not pull image 'localhost/kestra-stream-test-python:1' \(ALWAYS\)"):
        await run_container(run(container_image, "ALWAYS"), ignore)
    with pytest.raises(TaskFailure, match="'localhost/kestra-stream-absent:1' is not on the worker's engine and "
                                          "pullPolicy is NEVER"):
        await run_container(run("localhost/kestra-stream-absent:1", "NEVER"), ignore)


@pytest.mark.parametrize("end", ["kill", "timeout"])
async def test_a_killed_or_timed_out_task_kills_and_removes_its_container(
        engine: EmbeddedEngine, podman_host: str, container_image: str, end: str) -> None:
    marker = uuid.uuid4().hex
    flow = engine.deploy(json.dumps({"namespace": NS, "id": f"container_{end}", "tasks": [
        {"id": "sleep", "type": "io.kestra.plugin.docker.Run", "containerImage": container_image,
         **({"timeout": "PT5S"} if end == "timeout" else {}),
         "commands": ["python3", "-c", f"import time; time.sleep(600)  # {marker}"]},
    ]}))
    client = docker.DockerClient(base_url=podman_host)

    def ours(running_only: bool) -> list[str]:
        # One listing call: inspecting each container in turn races with the engine removing them.
        return [c["Id"] for c in client.api.containers(all=not running_only)
                if marker in json.dumps(c.get("Command"))]

    try:
        execution_id = await engine.create_execution(flow.namespace, flow.id)
        await until(lambda: bool(ours(running_only=True)), "the container running")

        if end == "kill":
            await engine.kill(execution_id)

        expected = StateType.KILLED if end == "kill" else StateType.FAILED
        assert (await engine.wait(execution_id, timeout=60)).state.current == expected
        await until(lambda: not ours(running_only=False), "the container killed and removed")
    finally:
        for container in ours(running_only=False):
            client.api.remove_container(container, force=True)
        client.close()
