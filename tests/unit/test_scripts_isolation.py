"""Python script tasks run in environments of their own (uv, cached), never in the orchestrator's.

Real interpreters, real uv, real package installs: the session's environment cache
(``python_env_cache`` in tests/conftest.py) holds the base environment, built once per session.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kestra_stream_plugin_scripts import (
    INTERPRETERS,
    WARM_ENV,
    WARM_POOL,
    cached_environment,
    machine_environ,
    machine_path,
    plugins,
)
from pydantic import ValidationError
from test_scripts_tasks import FakeRunContext, ProcessRunner, _tiny_wheel

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.plugins.registry import PluginKind, PluginRegistry
from kestra_stream.storage import LocalStorage

Build = Callable[[dict[str, Any]], tuple[RunnableTask, FakeRunContext]]

MODES = {
    "warm script": {"type": "python.Script"},
    "cold script": {"type": "python.Script", "env": {WARM_ENV: "0"}},
}


@pytest.fixture
def build(tmp_path: Path) -> Build:
    registry = PluginRegistry()
    registry.register_all(plugins())
    registry.register(ProcessRunner)
    storage = LocalStorage(tmp_path / "storage")

    def make(raw: dict[str, Any]) -> tuple[RunnableTask, FakeRunContext]:
        task = registry.require(PluginKind.TASK, raw["type"]).model_validate(raw, context={"registry": registry})
        assert isinstance(task, RunnableTask)
        return task, FakeRunContext(tmp_path, storage, raw["id"])

    return make


def _default_python() -> str:
    return INTERPRETERS.default(machine_path(os.environ["PATH"])).full_version


def _orchestrator_freeze() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("module", ["pydantic", "kestra_stream", "faust", "aiohttp"])
@pytest.mark.parametrize("mode", MODES)
async def test_a_script_cannot_import_the_orchestrators_packages(build: Build, mode: str, module: str) -> None:
    task, ctx = build({"id": "t", **MODES[mode], "script": f"import {module}\n"})
    with pytest.raises(TaskFailure, match="exit code 1"):
        await task.run(ctx)
    assert f"ModuleNotFoundError: No module named '{module}'" in ctx.messages(LogLevel.ERROR)


async def test_commands_cannot_import_the_orchestrators_packages_either(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "python.Commands", "commands": ["python -c 'import kestra_stream'"]})
    with pytest.raises(TaskFailure, match="exit code 1"):
        await task.run(ctx)
    assert "ModuleNotFoundError: No module named 'kestra_stream'" in ctx.messages(LogLevel.ERROR)


@pytest.mark.parametrize("mode", MODES)
async def test_kestra_helper_is_in_every_environment_and_the_interpreter_is_the_machines(
        build: Build, mode: str, python_env_cache: Path) -> None:
    task, ctx = build({"id": "t", **MODES[mode], "script": (
        "import sys\nfrom kestra import Kestra\nKestra.outputs({'prefix': sys.prefix, "
        "'base': sys.base_prefix, 'path': sys.path})\n")})
    outputs = await task.run(ctx)
    assert outputs is not None
    found = outputs["vars"]
    assert Path(found["prefix"]).parent == python_env_cache
    assert found["base"] == sys.base_prefix  # the machine's interpreter the orchestrator's venv was made from
    orchestrator_site = [p for p in sys.path if p.startswith(sys.prefix)]
    assert orchestrator_site and not set(orchestrator_site) & set(found["path"])


async def test_a_warm_script_forks_from_a_zygote_of_the_isolated_interpreter(
        build: Build, python_env_cache: Path) -> None:
    task, ctx = build({"id": "t", "type": "python.Script",
                       "script": "import os, sys\nprint(os.getppid())\nprint(sys.prefix)\n"})
    await task.run(ctx)
    parent, prefix = ctx.messages(LogLevel.INFO)
    assert int(parent) in WARM_POOL.pids()
    assert Path(prefix).parent == python_env_cache


async def test_declared_pydantic_can_be_imported_from_the_tasks_environment(
        build: Build, python_env_cache: Path) -> None:
    task, ctx = build({"id": "t", "type": "python.Script", "dependencies": ["pydantic"],
                       "script": "import pydantic\nprint(pydantic.__file__)\n"})
    await task.run(ctx)
    (module_file,) = ctx.messages(LogLevel.INFO)[-1:]
    assert Path(module_file).is_relative_to(python_env_cache)


async def test_pinned_requests_is_imported_at_that_version_pip_installs_stay_in_the_task_and_the_cache_is_reused(
        build: Build, python_env_cache: Path) -> None:
    before = _orchestrator_freeze()
    script = ("import requests\nprint(requests.__version__)\nprint(requests.__file__)\n"
              "try:\n    import six\n    print('six', six.__version__)\nexcept ModuleNotFoundError:\n"
              "    print('no six')\n")
    first, ctx = build({"id": "t", "type": "python.Script", "dependencies": ["requests==2.32.3"],
                        "beforeCommands": ["pip install --quiet six==1.16.0"], "script": script})
    await first.run(ctx)
    version, location, six = ctx.messages(LogLevel.INFO)[-3:]
    assert version == "2.32.3"
    assert Path(location).is_relative_to(python_env_cache)
    assert six == "six 1.16.0"  # installed by beforeCommands, into the task's own writable layer

    second, ctx = build({"id": "t", "type": "python.Script", "dependencies": ["requests==2.32.3"],
                         "script": script})
    await second.run(ctx)
    assert [m for m in ctx.messages(LogLevel.DEBUG) if "reused from cache" in m]
    assert not [m for m in ctx.messages(LogLevel.INFO) if m.startswith("Building")]
    assert ctx.messages(LogLevel.INFO)[-3:] == ["2.32.3", location, "no six"]
    assert _orchestrator_freeze() == before


async def test_python_version_selects_another_installed_interpreter(build: Build) -> None:
    path = machine_path(os.environ["PATH"])
    default = INTERPRETERS.default(path)
    others = [i for i in INTERPRETERS.installed(path) if i.short_version != default.short_version]
    if not others:
        pytest.skip(f"only Python {default.short_version} is installed on this machine")
    wanted = others[0]
    task, ctx = build({"id": "t", "type": "python.Script", "pythonVersion": wanted.short_version,
                       "script": "import sys\nprint('%d.%d' % sys.version_info[:2])\nimport kestra\n"})
    await task.run(ctx)
    assert ctx.messages(LogLevel.INFO)[-1] == wanted.short_version


async def test_a_python_version_that_is_not_installed_is_refused_naming_those_that_are(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "python.Script", "pythonVersion": "3.99", "script": "print(1)"})
    with pytest.raises(TaskFailure, match=r"pythonVersion 3\.99 is not installed on this worker; installed: .*"
                                          + _default_python().replace(".", r"\.")):
        await task.run(ctx)


async def test_concurrent_builds_of_one_environment_build_it_once(tmp_path: Path) -> None:
    interpreter = INTERPRETERS.default(machine_path(os.environ["PATH"]))
    requirements = [str(_tiny_wheel(tmp_path))]
    logs: list[tuple[LogLevel, str]] = []
    root = tmp_path / "cache"
    built = await asyncio.gather(*(cached_environment(lambda lvl, m: logs.append((lvl, m)), interpreter,
                                                      requirements, root) for _ in range(3)))
    assert len({b.root for b in built}) == 1
    assert len([m for lvl, m in logs if m.startswith("Building")]) == 1
    assert sorted(p.name for p in root.iterdir()) == sorted([built[0].root.name, f"{built[0].root.name}.lock"])
    process = await asyncio.create_subprocess_exec(
        str(built[0].python), "-c", "import tinydep, kestra; print(tinydep.VALUE)", stdout=asyncio.subprocess.PIPE)
    stdout, _ = await process.communicate()
    assert (process.returncode, stdout) == (0, b"42\n")


def test_the_inherited_environment_leaves_the_orchestrators_python_out() -> None:
    own_bin = str(Path(sys.executable).parent)
    env = machine_environ({"PATH": os.pathsep.join([own_bin, "/usr/bin"]), "PYTHONPATH": "/src",
                           "VIRTUAL_ENV": sys.prefix, "HOME": "/root"})
    assert env == {"PATH": "/usr/bin", "HOME": "/root"}


@pytest.mark.parametrize("runner", [None, {"type": "io.kestra.plugin.core.runner.Process"}])
def test_container_image_on_the_process_runner_is_refused_at_validation_with_the_fix(
        build: Build, runner: dict[str, str] | None) -> None:
    raw: dict[str, Any] = {"id": "t", "type": "python.Script", "script": "import pandas",
                           "containerImage": "ghcr.io/kestra-io/pydata:latest"}
    if runner is not None:
        raw["taskRunner"] = runner
    with pytest.raises(ValidationError, match=r"containerImage 'ghcr\.io/kestra-io/pydata:latest' is only used by a "
                                              r"container task runner.*dependencies.*runner\.docker\.Docker"):
        build(raw)
    # A container runner is what the image is for: validation lets it through.
    build({**raw, "taskRunner": {"type": "io.kestra.plugin.scripts.runner.docker.Docker"}})
    if runner is None:
        build({**raw, "runner": "DOCKER"})


def test_package_manager_pip_is_refused_since_uv_installs_dependencies(build: Build) -> None:
    with pytest.raises(ValidationError, match="packageManager: PIP"):
        build({"id": "t", "type": "python.Script", "script": "print(1)", "packageManager": "PIP"})
    build({"id": "t", "type": "python.Script", "script": "print(1)", "packageManager": "UV"})
