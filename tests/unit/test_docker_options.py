"""What the Docker task runner and docker.Run accept at validation, and what they refuse with the fix."""

from __future__ import annotations

from typing import Any

import pytest
from kestra_stream_plugin_scripts import VOLUMES_SETTING, DockerRunner, Run
from kestra_stream_plugin_scripts._docker import _bytes, engine_host
from pydantic import ValidationError

from kestra_stream.errors import TaskFailure

RUNNER = "io.kestra.plugin.scripts.runner.docker.Docker"


def runner(**properties: Any) -> DockerRunner:
    return DockerRunner.model_validate({"type": RUNNER, **properties})


def test_volumes_are_refused_unless_the_worker_enables_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VOLUMES_SETTING, raising=False)
    with pytest.raises(ValidationError, match=f"volumes are disabled on this worker.*{VOLUMES_SETTING}=true"):
        runner(volumes=["/etc:/host-etc:ro"])
    with pytest.raises(ValidationError, match="volumes are disabled"):
        Run.model_validate({"id": "r", "type": "io.kestra.plugin.docker.Run", "containerImage": "alpine",
                            "volumes": ["/etc:/host-etc"]})

    monkeypatch.setenv(VOLUMES_SETTING, "true")
    assert runner(volumes=["/etc:/host-etc:ro"]).volumes == ["/etc:/host-etc:ro"]


def test_kestra_properties_not_implemented_here_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="privileged, shmSize is not implemented by kestra-stream"):
        runner(privileged=True, shmSize="1g")
    with pytest.raises(ValidationError, match="credentials is not implemented"):
        Run.model_validate({"id": "r", "type": "io.kestra.plugin.docker.Run", "containerImage": "alpine",
                            "credentials": {"username": "u"}})


def test_the_implemented_properties_are_read_in_kestra_spelling() -> None:
    parsed = runner(pullPolicy="NEVER", cpu={"cpus": 1.5}, memory={"memory": "512m"}, entryPoint=["/bin/sh"],
                    networkMode="none", user="1000", delete=False)
    assert (parsed.pull_policy, parsed.cpu and parsed.cpu.cpus, parsed.memory and parsed.memory.memory) == (
        "NEVER", 1.5, "512m")
    assert (parsed.entry_point, parsed.network_mode, parsed.user, parsed.delete) == (["/bin/sh"], "none", "1000", False)
    with pytest.raises(ValidationError, match="pullPolicy"):
        runner(pullPolicy="SOMETIMES")


def test_memory_sizes_are_read_the_way_docker_writes_them() -> None:
    assert [_bytes(s) for s in ("512m", "1g", "64k", "1024", "1.5g", "256MB")] == [
        512 << 20, 1 << 30, 64 << 10, 1024, 3 << 29, 256 << 20]
    with pytest.raises(TaskFailure, match="'lots' is not a size"):
        _bytes("lots")


def test_the_engine_comes_from_the_runner_or_else_the_worker_setting() -> None:
    assert engine_host("unix:///run/a.sock", {"KESTRA_STREAM_DOCKER_HOST": "unix:///run/b.sock"}) == "unix:///run/a.sock"
    assert engine_host(None, {"KESTRA_STREAM_DOCKER_HOST": "unix:///run/b.sock"}) == "unix:///run/b.sock"
    with pytest.raises(TaskFailure, match="set KESTRA_STREAM_DOCKER_HOST in the worker's environment"):
        engine_host(None, {})
