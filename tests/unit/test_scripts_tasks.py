"""The script tasks end to end on real subprocesses, with a run context built on the real protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import pytest
from kestra_stream_plugin_scripts import (
    INTERPRETERS,
    PROCESS_RUNNER,
    environment_key,
    group_members,
    machine_path,
    plugins,
)
from kestra_stream_plugin_scripts._env import cache_root

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, RunnableTask, TaskRunner
from kestra_stream.plugins.registry import PluginRegistry
from kestra_stream.storage import LocalStorage, ScopedStorage, Storage, is_within, task_uri
from tests._pidfiles import written_pids

_engine_factory = getattr(importlib.import_module("kestra_stream.expressions"), "default_engine", None)
_jinja = jinja2.Environment(undefined=jinja2.StrictUndefined)


def _render_text(text: str, variables: Mapping[str, Any]) -> Any:
    if _engine_factory is not None:
        return _engine_factory().render_typed(text, variables)
    return _jinja.from_string(text).render(**variables)


class ProcessRunner(TaskRunner):
    """Stands in for the core plugins' Process runner, which registers the same type name."""

    plugin = PluginInfo(type=PROCESS_RUNNER, short="runner.Process")


class FakeRunContext:
    """A run context on the real protocol: renders with the project's expressions, keeps logs."""

    def __init__(self, tmp: Path, storage: Storage, task_id: str) -> None:
        self.tmp = tmp
        self.logs: list[tuple[LogLevel, str]] = []
        self.warnings: list[str] = []
        self.metrics: list[tuple[str, str, float, dict[str, str]]] = []
        self._storage = ScopedStorage.for_flow(storage, "company.team", "flow")
        self.workdirs: list[Path] = []
        self._variables = {
            "flow": {"id": "flow", "namespace": "company.team"},
            "execution": {"id": "E1"},
            "task": {"id": task_id, "type": "test"},
            "taskrun": {"id": "TR1", "attemptsCount": 0},
        }

    @property
    def execution_id(self) -> str:
        return "E1"

    @property
    def taskrun_id(self) -> str:
        return "TR1"

    @property
    def attempt_number(self) -> int:
        return 1

    @property
    def variables(self) -> Mapping[str, Any]:
        return self._variables

    def render(self, value: Any) -> Any:
        if isinstance(value, str):
            return _render_text(value, self._variables)
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if isinstance(value, dict):
            return {self.render_string(k): self.render(v) for k, v in value.items()}
        return value

    def render_string(self, value: Any) -> str:
        return str(_render_text(value, self._variables)) if isinstance(value, str) else str(value)

    def log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))

    def set_labels(self, labels: Mapping[str, str]) -> None:
        raise AssertionError("scripts set no labels")

    def set_warning(self, reason: str) -> None:
        self.warnings.append(reason)

    def working_directory(self) -> Path:
        self.workdirs.append(Path(tempfile.mkdtemp(dir=self.tmp, prefix="work-")))
        return self.workdirs[-1]

    @property
    def storage(self) -> Storage:
        return self._storage

    def metric(self, name: str, type: str, value: float, tags: dict[str, str]) -> None:
        self.metrics.append((name, type, value, tags))

    def messages(self, level: LogLevel | None = None) -> list[str]:
        return [m for lvl, m in self.logs if level is None or lvl == level]


@pytest.fixture
def registry() -> PluginRegistry:
    reg = PluginRegistry()
    reg.register_all(plugins())
    reg.register(ProcessRunner)
    return reg


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


Build = Callable[[dict[str, Any]], tuple[RunnableTask, FakeRunContext]]


@pytest.fixture
def build(registry: PluginRegistry, local_storage: LocalStorage, tmp_path: Path) -> Build:
    def make(raw: dict[str, Any]) -> tuple[RunnableTask, FakeRunContext]:
        cls = registry.require(registry_kind(), raw["type"])
        task = cls.model_validate(raw, context={"registry": registry})
        assert isinstance(task, RunnableTask)
        return task, FakeRunContext(tmp_path, local_storage, raw["id"])

    return make


async def outputs_of(task: RunnableTask, ctx: FakeRunContext) -> Mapping[str, Any]:
    outputs = await task.run(ctx)
    assert outputs is not None
    return outputs


def registry_kind() -> Any:
    from kestra_stream.plugins.registry import PluginKind

    return PluginKind.TASK


def test_every_plugin_is_registered_under_kestra_and_short_names(registry: PluginRegistry) -> None:
    kind = registry_kind()
    for name in ("io.kestra.plugin.scripts.python.Script", "python.Script", "python.Commands",
                 "io.kestra.plugin.scripts.shell.Commands", "shell.Script", "shell.Commands"):
        assert registry.resolve(kind, name) is not None


async def test_compat_python_outputs_script(build: Build) -> None:
    task, ctx = build({
        "id": "check-data-quality", "type": "io.kestra.plugin.scripts.python.Script",
        "taskRunner": {"type": "io.kestra.plugin.core.runner.Process"},
        "script": 'import json\nrow_count = 1000\nprint("counted", row_count)\n'
                  'print("::" + json.dumps({"outputs": {"row_count": row_count}}) + "::")\n',
    })
    outputs = await outputs_of(task, ctx)
    assert outputs == {"vars": {"row_count": 1000}, "exitCode": 0, "outputFiles": {}}
    assert ctx.messages(LogLevel.INFO) == ["counted 1000"]
    assert ctx.warnings == []


async def test_compat_shell_outputs_commands_render_task_id(build: Build) -> None:
    task, ctx = build({
        "id": "bash", "type": "io.kestra.plugin.scripts.shell.Commands",
        "taskRunner": {"type": "io.kestra.plugin.core.runner.Process"},
        "commands": ['echo "running {{ task.id }}"', "echo '::{\"outputs\":{\"n\":3}}::'"],
    })
    outputs = await outputs_of(task, ctx)
    assert outputs == {"vars": {"n": 3}, "exitCode": 0, "outputFiles": {}}
    assert ctx.messages() == ["running bash"]


async def test_non_zero_exit_code_fails_the_attempt(build: Build) -> None:
    task, ctx = build({"id": "exit-code", "type": "shell.Commands", "commands": ["exit 3"]})
    with pytest.raises(TaskFailure, match="Command failed with exit code 3"):
        await task.run(ctx)


async def test_fail_fast_stops_at_the_first_failing_command_unless_disabled(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["false", "echo after"]})
    with pytest.raises(TaskFailure, match="exit code 1"):
        await task.run(ctx)
    assert ctx.messages() == []
    task, ctx = build({"id": "t", "type": "shell.Commands", "failFast": False, "commands": ["false", "echo after"]})
    assert (await outputs_of(task, ctx))["exitCode"] == 0
    assert ctx.messages() == ["after"]


async def test_env_and_before_commands(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Script", "env": {"GREETING": "hi {{ task.id }}", "N": 2},
                       "beforeCommands": ["export X=before"], "script": 'echo "$GREETING $N $X"\necho "$PWD"'})
    await task.run(ctx)
    assert ctx.messages()[0] == "hi t 2 before"
    assert ctx.messages()[1] == str(ctx.workdirs[0])


async def test_python_env_is_unbuffered_and_runs_in_the_cached_environment_not_the_workers(
        build: Build, python_env_cache: Path) -> None:
    task, ctx = build({"id": "t", "type": "python.Commands",
                       "commands": ['python -c "import os, sys; print(os.environ[\'PYTHONUNBUFFERED\']); '
                                    'print(sys.prefix)"']})
    await task.run(ctx)
    import sys
    unbuffered, prefix = ctx.messages()
    assert unbuffered == "1"
    assert Path(prefix).parent == python_env_cache and prefix != sys.prefix


async def test_stderr_lines_are_errors_and_make_a_warning_by_default(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["echo oops >&2", "echo fine"]})
    outputs = await outputs_of(task, ctx)
    assert outputs["exitCode"] == 0
    assert ctx.messages(LogLevel.ERROR) == ["oops"]
    assert len(ctx.warnings) == 1 and "stderr" in ctx.warnings[0]
    task, ctx = build({"id": "t", "type": "shell.Commands", "warningOnStdErr": False,
                       "commands": ["echo oops >&2"]})
    await task.run(ctx)
    assert ctx.messages(LogLevel.ERROR) == ["oops"]
    assert ctx.warnings == []


async def test_kestra_helper_library_outputs_and_metrics(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "python.Script", "script": (
        "from kestra import Kestra\nKestra.outputs({'a': 1, 'nested': {'b': [1, 2]}})\n"
        "Kestra.counter('rows', 7, {'table': 'x'})\nprint('done', true, null)\n")})
    outputs = await outputs_of(task, ctx)
    assert outputs["vars"] == {"a": 1, "nested": {"b": [1, 2]}}
    assert ("rows", "counter", 7.0, {"table": "x"}) in ctx.metrics
    assert "done True None" in ctx.messages(LogLevel.INFO)


async def test_input_files_inline_and_from_storage(build: Build, local_storage: LocalStorage) -> None:
    uri = await local_storage.put(task_uri("company.team", "flow", "E0", "up", "R0", "data.csv"), b"a,b\n1,2\n")
    task, ctx = build({"id": "t", "type": "python.Commands",
                       "inputFiles": {"main.py": "print(open('in/data.csv').read().splitlines()[1])",
                                      "in/data.csv": uri, "empty.txt": None},
                       "commands": ["python main.py", "test -f empty.txt && echo empty-ok"]})
    await task.run(ctx)
    assert ctx.messages() == ["1,2", "empty-ok"]


async def test_input_file_outside_the_working_directory_is_refused(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands", "inputFiles": {"../x.txt": "no"},
                       "commands": ["true"]})
    with pytest.raises(TaskFailure, match="relative path inside the working directory"):
        await task.run(ctx)
    assert not (ctx.tmp / "x.txt").exists()


async def test_input_file_from_another_flow_is_refused(build: Build, local_storage: LocalStorage) -> None:
    from kestra_stream.storage import StorageUriError

    uri = await local_storage.put(task_uri("other", "flow", "E0", "up", "R0", "x"), b"secret")
    task, ctx = build({"id": "t", "type": "shell.Commands", "inputFiles": {"x": uri}, "commands": ["true"]})
    with pytest.raises(StorageUriError, match="outside this scope"):
        await task.run(ctx)


async def test_output_files_are_uploaded_and_their_uris_returned(build: Build, local_storage: LocalStorage) -> None:
    task, ctx = build({"id": "produce", "type": "shell.Commands", "outputFiles": ["out/*.csv", "report.txt"],
                       "commands": ["mkdir -p out/deep", "echo 1 > out/a.csv", "echo 2 > out/b.csv",
                                    "echo 3 > out/deep/c.csv", "echo r > report.txt", "echo x > skip.log"]})
    outputs = await outputs_of(task, ctx)
    files = outputs["outputFiles"]
    assert sorted(files) == ["out/a.csv", "out/b.csv", "report.txt"]
    base = task_uri("company.team", "flow", "E1", "produce", "TR1")
    for name, uri in files.items():
        assert is_within(uri, base) and uri.endswith("-" + name.rsplit("/", 1)[-1])
    assert await local_storage.get(files["out/b.csv"]) == b"2\n"


async def test_output_dir_files_are_uploaded(build: Build, local_storage: LocalStorage) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands",
                       "commands": ["echo hi > {{ outputDir }}/a.txt", 'echo "$OUTPUT_DIR" | grep -q work-',
                                    "cat {{workingDir}}/in.txt"],
                       "inputFiles": {"in.txt": "from input"}})
    outputs = await outputs_of(task, ctx)
    assert list(outputs["outputFiles"]) == ["a.txt"]
    assert await local_storage.get(outputs["outputFiles"]["a.txt"]) == b"hi\n"
    assert ctx.messages() == ["from input"]


async def test_each_attempt_gets_a_fresh_working_directory(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["ls | wc -l", "touch left-behind"]})
    await task.run(ctx)
    await task.run(ctx)
    assert [m.strip() for m in ctx.messages()] == ["0", "0"]


async def test_a_worker_without_a_container_engine_refuses_docker_tasks_naming_the_setting(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KESTRA_STREAM_DOCKER_HOST", raising=False)
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["true"], "containerImage": "ubuntu",
                       "taskRunner": {"type": "io.kestra.plugin.scripts.runner.docker.Docker", "pullPolicy": "NEVER"}})
    with pytest.raises(TaskFailure, match="no container engine: set KESTRA_STREAM_DOCKER_HOST"):
        await task.run(ctx)
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["true"], "runner": "DOCKER"})
    with pytest.raises(TaskFailure, match="no container engine: set KESTRA_STREAM_DOCKER_HOST"):
        await task.run(ctx)


async def test_enabled_namespace_files_say_they_are_not_supported_yet(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["true"], "namespaceFiles": {"enabled": True}})
    with pytest.raises(TaskFailure, match="namespaceFiles is not supported yet"):
        await task.run(ctx)
    task, ctx = build({"id": "t", "type": "shell.Commands", "commands": ["true"],
                       "namespaceFiles": {"enabled": False}})
    assert (await outputs_of(task, ctx))["exitCode"] == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False


async def test_cancelled_script_leaves_no_process_behind(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "shell.Commands",
                       "commands": ["sleep 300 &", "echo $! > bg.pid", "echo $$ > main.pid", "sleep 300"]})
    running = asyncio.create_task(task.run(ctx))
    while not ctx.workdirs:  # noqa: ASYNC110 - set by the task itself, no event to wait on
        await asyncio.sleep(0.01)
    workdir = ctx.workdirs[0]
    # The pid files are written by the child processes: nothing to await but the files.
    while (pids := written_pids(workdir / "main.pid", workdir / "bg.pid")) is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    main, bg = pids
    assert _alive(main) and _alive(bg)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not _alive(main) and not _alive(bg)
    assert group_members(main) == []


async def test_timeout_kills_a_python_script_and_its_children(build: Build) -> None:
    task, ctx = build({"id": "t", "type": "python.Script", "script": (
        "import subprocess, time\np = subprocess.Popen(['sleep', '300'])\nprint(p.pid, flush=True)\n"
        "time.sleep(300)\n")})
    running = asyncio.create_task(task.run(ctx))
    # The child's pid is printed by the script: nothing to await but the log line.
    deadline = time.monotonic() + 60
    while not ctx.messages():
        assert time.monotonic() < deadline, "the script never printed its child's pid"
        await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(running, timeout=0.5)
    child = int(ctx.messages()[0])
    assert not _alive(child)


def _tiny_wheel(folder: Path) -> Path:
    files = {"tinydep.py": b"VALUE = 42\n",
             "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
             "tinydep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                            b"Tag: py3-none-any\n"}
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinydep-1.0.dist-info/RECORD,,")
    path = folder / "tinydep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr("tinydep-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def _imports_tinydep(wheel: Path) -> dict[str, Any]:
    """A script task declaring the tiny wheel and printing its VALUE (42)."""
    return {"id": "t", "type": "python.Script", "dependencies": [str(wheel)],
            "script": "import tinydep\nprint(tinydep.VALUE)\n"}


async def test_dependencies_are_installed_once_into_a_cached_environment(
        build: Build, tmp_path: Path, python_env_cache: Path) -> None:
    wheel = _tiny_wheel(tmp_path)
    task, ctx = build(_imports_tinydep(wheel))
    await task.run(ctx)
    assert "42" in ctx.messages(LogLevel.INFO)
    task, ctx = build(_imports_tinydep(wheel))
    await task.run(ctx)
    reused = [m for m in ctx.messages(LogLevel.DEBUG) if "reused from cache" in m]
    assert len(reused) == 1 and reused[0].endswith(str(_environment_of(wheel)))
    assert not any(m.startswith("Building") for m in ctx.messages(LogLevel.INFO))


async def test_a_cached_environment_removed_behind_the_workers_back_is_rebuilt_for_the_next_task(
        build: Build, tmp_path: Path, python_env_cache: Path) -> None:
    wheel = _tiny_wheel(tmp_path)
    task, ctx = build(_imports_tinydep(wheel))
    await task.run(ctx)
    environment = _environment_of(wheel)
    shutil.rmtree(environment)
    task, ctx = build(_imports_tinydep(wheel))
    await task.run(ctx)
    assert any(m.startswith("Building") for m in ctx.messages(LogLevel.INFO))
    assert "42" in ctx.messages(LogLevel.INFO)
    assert (environment / "bin" / "python").exists()


def _environment_of(*requirements: str | Path) -> Path:
    interpreter = INTERPRETERS.default(machine_path(os.environ["PATH"]))
    return cache_root() / environment_key(interpreter, [str(r) for r in requirements])


async def test_uninstallable_dependency_fails_with_uv_output_and_leaves_nothing_in_the_cache(
        build: Build, tmp_path: Path, python_env_cache: Path) -> None:
    missing = tmp_path / "missing.whl"
    task, ctx = build({"id": "t", "type": "python.Script", "dependencies": [str(missing)], "script": "print(1)"})
    with pytest.raises(TaskFailure, match="uv could not install the dependencies"):
        await task.run(ctx)
    assert not _environment_of(missing).exists()
    assert not [p for p in python_env_cache.iterdir() if p.name.startswith(".staging")]
