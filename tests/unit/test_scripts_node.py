"""Node.js script tasks on real node processes, npm installs into the session's folder cache (``node_env_cache``)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from kestra_stream_plugin_scripts import NODE_HELPER, node_environment_key, node_runtime, plugins
from pydantic import ValidationError
from test_scripts_tasks import Build, FakeRunContext, ProcessRunner, outputs_of

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.plugins.registry import PluginKind, PluginRegistry
from kestra_stream.storage import LocalStorage

pytestmark = pytest.mark.usefixtures("node_env_cache")


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def build(tmp_path: Path, local_storage: LocalStorage) -> Build:
    registry = PluginRegistry()
    registry.register_all(plugins())
    registry.register(ProcessRunner)

    def make(raw: dict[str, Any]) -> tuple[RunnableTask, FakeRunContext]:
        task = registry.require(PluginKind.TASK, raw["type"]).model_validate(raw, context={"registry": registry})
        assert isinstance(task, RunnableTask)
        return task, FakeRunContext(tmp_path, local_storage, raw["id"])

    return make


def _tiny_package(folder: Path, name: str = "tinynode", value: int = 42) -> Path:
    """An npm package tarball on disk (``npm install <file>``), exporting ``VALUE``."""
    path = folder / f"{name}-1.0.0.tgz"
    files = {"package/package.json": json.dumps({"name": name, "version": "1.0.0", "main": "index.js"}).encode(),
             "package/index.js": f"module.exports = {{ VALUE: {value} }};\n".encode()}
    with tarfile.open(path, "w:gz") as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _folder_of(cache: Path, *packages: str | Path) -> Path:
    return cache / node_environment_key(node_runtime(), [str(p) for p in packages])


async def test_script_outputs_metrics_and_logs_through_kestras_helper(build: Build) -> None:
    task, ctx = build({"id": "js", "type": "io.kestra.plugin.scripts.node.Script", "script": (
        "const Kestra = require('@kestra-io/libs');\n"
        "console.log('running {{ task.id }}');\n"
        "Kestra.outputs({n: 1 + 2, nested: {ok: true}});\n"
        "Kestra.counter('rows', 5, {table: 'a'});\n"
        "Kestra.timer('took', 1.5);\n"
        "Kestra.logger().warn('careful');\n")})
    outputs = await outputs_of(task, ctx)
    assert outputs["vars"] == {"n": 3, "nested": {"ok": True}}
    assert outputs["exitCode"] == 0
    assert ctx.metrics == [("rows", "counter", 5.0, {"table": "a"}), ("took", "timer", 1.5, {})]
    assert ctx.messages(LogLevel.INFO) == ["running js"]
    assert ctx.messages(LogLevel.WARN) == ["careful"]


async def test_the_protocol_line_printed_by_hand_sets_outputs(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "node.Script",
                       "script": "console.log('::' + JSON.stringify({outputs: {v: [1, 'two']}}) + '::');"})
    outputs = await outputs_of(task, ctx)
    assert outputs["vars"] == {"v": [1, "two"]}


async def test_commands_run_node_on_input_files_with_arguments(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "io.kestra.plugin.scripts.node.Commands",
                       "inputFiles": {"main.js": "const K = require('@kestra-io/libs');\n"
                                                 "K.outputs({arg: process.argv[2], env: process.env.GREETING});\n"},
                       "env": {"GREETING": "hi"},
                       "commands": ["node main.js {{ task.id }}"]})
    outputs = await outputs_of(task, ctx)
    assert outputs["vars"] == {"arg": "t", "env": "hi"}


async def test_an_uncaught_error_fails_the_attempt_with_the_stack_in_error_logs(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "node.Script", "script": "throw new Error('boom here');"})
    with pytest.raises(TaskFailure, match="exit code 1"):
        await task.run(ctx)
    assert any("Error: boom here" in m for m in ctx.messages(LogLevel.ERROR))


async def test_process_exit_code_is_the_tasks(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "node.Commands", "commands": ["node -e 'process.exit(7)'"]})
    with pytest.raises(TaskFailure, match="exit code 7"):
        await task.run(ctx)


@pytest.mark.parametrize(("warning_on_std_err", "warned"), [(True, True), (False, False)])
async def test_stderr_lines_are_errors_and_warn_unless_warning_on_std_err_is_false(
        build: Build, warning_on_std_err: bool, warned: bool) -> None:
    task, ctx = build({"id": "t", "type": "node.Script", "warningOnStdErr": warning_on_std_err,
                       "script": "console.error('to stderr');\nconsole.log('to stdout');"})
    await task.run(ctx)
    assert ctx.messages(LogLevel.ERROR) == ["to stderr"]
    assert ctx.messages(LogLevel.INFO) == ["to stdout"]
    assert bool(ctx.warnings) is warned


async def test_output_files_and_output_dir_are_uploaded(build: Build, local_storage: LocalStorage) -> None:
    task, ctx = build({"id": "t", "type": "node.Script", "outputFiles": ["*.csv"], "inputFiles": {"in.txt": "abc"},
                       "script": ("const fs = require('fs');\n"
                                  "const text = fs.readFileSync('in.txt', 'utf8');\n"
                                  "fs.writeFileSync('out.csv', text.toUpperCase());\n"
                                  "fs.writeFileSync('{{ outputDir }}/dir.txt', 'd');\n")})
    outputs = await outputs_of(task, ctx)
    assert sorted(outputs["outputFiles"]) == ["dir.txt", "out.csv"]
    assert await local_storage.get(outputs["outputFiles"]["out.csv"]) == b"ABC"


async def test_declared_dependencies_are_installed_once_and_the_folder_is_reused_by_the_next_task(
        build: Build, tmp_path: Path, node_env_cache: Path) -> None:
    package = _tiny_package(tmp_path)
    raw = {"id": "t", "type": "node.Script", "dependencies": [str(package)],
           "script": "console.log(require('tinynode').VALUE);"}
    task, ctx = build(raw)
    await task.run(ctx)
    assert ctx.messages(LogLevel.INFO)[0].startswith("Installing the npm packages")
    assert ctx.messages(LogLevel.INFO)[-1] == "42"
    task, ctx = build(raw)
    await task.run(ctx)
    assert ctx.messages(LogLevel.INFO) == ["42"]
    reused = [m for m in ctx.messages(LogLevel.DEBUG) if "reused from cache" in m]
    assert len(reused) == 1 and reused[0].endswith(str(_folder_of(node_env_cache, package)))


async def test_a_package_from_the_npm_registry_is_installed_with_the_helper(
        build: Build, node_env_cache: Path) -> None:
    task, ctx = build({"id": "t", "type": "node.Commands", "dependencies": ["is-number@7.0.0"],
                       "inputFiles": {"main.js": "const isNumber = require('is-number');\n"
                                                 "require('@kestra-io/libs').outputs({five: isNumber('5')});\n"},
                       "commands": ["node main.js"]})
    outputs = await outputs_of(task, ctx)
    assert outputs["vars"] == {"five": True}
    modules = _folder_of(node_env_cache, "is-number@7.0.0") / "node_modules"
    assert (modules / "is-number").is_dir() and (modules / NODE_HELPER).is_dir()


async def test_concurrent_tasks_with_the_same_new_dependencies_install_them_once(
        build: Build, tmp_path: Path) -> None:
    package = _tiny_package(tmp_path)
    runs = [build({"id": "t", "type": "node.Script", "dependencies": [str(package)],
                   "script": "console.log(require('tinynode').VALUE);"}) for _ in range(3)]
    await asyncio.gather(*(task.run(ctx) for task, ctx in runs))
    installs = [m for _, ctx in runs for m in ctx.messages(LogLevel.INFO) if m.startswith("Installing")]
    assert len(installs) == 1
    assert all(ctx.messages(LogLevel.INFO)[-1] == "42" for _, ctx in runs)


async def test_a_failing_npm_install_fails_the_task_with_npms_output_and_leaves_nothing_in_the_cache(
        build: Build, tmp_path: Path, node_env_cache: Path) -> None:
    missing = tmp_path / "missing-1.0.0.tgz"
    task, ctx = build({"id": "t", "type": "node.Script", "dependencies": [str(missing)], "script": "1"})
    with pytest.raises(TaskFailure, match="npm could not install the dependencies") as failure:
        await task.run(ctx)
    assert "ENOENT" in str(failure.value) or "missing-1.0.0.tgz" in str(failure.value)
    assert not _folder_of(node_env_cache, missing).exists()
    assert not [p for p in node_env_cache.iterdir() if p.name.startswith(".staging")]


async def test_without_the_dependency_cache_the_install_is_the_attempts_only(
        build: Build, tmp_path: Path, node_env_cache: Path) -> None:
    package = _tiny_package(tmp_path, value=7)
    task, ctx = build({"id": "t", "type": "node.Script", "dependencies": [str(package)],
                       "dependencyCacheEnabled": False,
                       "script": "console.log(require('tinynode').VALUE, require.resolve('tinynode'));"})
    await task.run(ctx)
    value, resolved = ctx.messages(LogLevel.INFO)[-1].split(" ")
    assert value == "7"
    assert not Path(resolved).exists()  # the attempt's folder is gone
    assert not _folder_of(node_env_cache, package).exists()


async def test_npm_install_in_before_commands_installs_into_the_working_directory_first(
        build: Build, tmp_path: Path, node_env_cache: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    package = _tiny_package(local, value=2)
    task, ctx = build({"id": "t", "type": "node.Script",
                       "beforeCommands": [f"npm install --no-audit --no-fund --loglevel=error {package}"],
                       "script": "console.log(require('tinynode').VALUE, require.resolve('tinynode'));"})
    await task.run(ctx)
    value, resolved = ctx.messages(LogLevel.INFO)[-1].split(" ")
    assert value == "2"
    assert Path(resolved).is_relative_to(ctx.workdirs[-1])


def test_container_image_is_refused_on_the_process_runner(build: Build) -> None:
    with pytest.raises(ValidationError, match="containerImage 'node:20' is only used by a container task runner"):
        build({"id": "t", "type": "node.Script", "containerImage": "node:20", "script": "1"})


async def test_es_module_imports_find_the_helper_and_declared_dependencies(build: Build, tmp_path: Path) -> None:
    package = _tiny_package(tmp_path, value=5)
    task, ctx = build({"id": "t", "type": "node.Script", "dependencies": [str(package)], "script": (
        "import Kestra from '@kestra-io/libs';\n"
        "import tiny from 'tinynode';\n"
        "import { readFileSync } from 'node:fs';\n"
        "Kestra.outputs({value: tiny.VALUE, fs: typeof readFileSync});\n")})
    outputs = await outputs_of(task, ctx)
    assert outputs["vars"] == {"value": 5, "fs": "function"}


async def test_a_missing_es_module_still_fails_with_nodes_error(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "node.Script", "script": "import nope from 'not-installed-anywhere';\n"})
    with pytest.raises(TaskFailure, match="exit code 1"):
        await task.run(ctx)
    assert any("ERR_MODULE_NOT_FOUND" in m for m in ctx.messages(LogLevel.ERROR))


async def test_commonjs_code_starts_node_without_the_es_module_hook(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "node.Script",
                       "script": "console.log(String(process.env.NODE_OPTIONS));"})
    await task.run(ctx)
    assert ctx.messages(LogLevel.INFO) == ["undefined"]


async def test_dependencies_in_a_container_are_refused_naming_npm_install(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "node.Script", "dependencies": ["is-number"], "script": "1",
                       "taskRunner": {"type": "io.kestra.plugin.scripts.runner.docker.Docker"}})
    with pytest.raises(TaskFailure, match=r"install them with beforeCommands \(e.g. npm install \.\.\.\)"):
        await task.run(ctx)


async def test_a_worker_without_node_fails_the_task_naming_the_fix(
        build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    task, ctx = build({"id": "t", "type": "node.Script", "script": "1"})
    with pytest.raises(TaskFailure, match=r"node is not on this worker's PATH .*install Node\.js"):
        await task.run(ctx)
