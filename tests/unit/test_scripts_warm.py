"""The warm path of python.Script: a pre-started interpreter forks each script, with cold-path semantics."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from kestra_stream_plugin_scripts import WARM_ENV, WARM_POOL, group_members, plugins, startup_key, warm_enabled
from test_scripts_tasks import FakeRunContext, ProcessRunner

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.plugins.registry import PluginKind, PluginRegistry
from kestra_stream.storage import LocalStorage

Build = Callable[[dict[str, Any]], tuple[RunnableTask, FakeRunContext]]

# Prints the parent pid: a warm script's parent is a zygote of the pool, a cold one's is /bin/sh.
PARENT = "import os\nprint('parent', os.getppid())\n"


@pytest.fixture
def build(tmp_path: Path) -> Build:
    registry = PluginRegistry()
    registry.register_all(plugins())
    registry.register(ProcessRunner)
    storage = LocalStorage(tmp_path / "storage")

    def make(raw: dict[str, Any]) -> tuple[RunnableTask, FakeRunContext]:
        cls = registry.require(PluginKind.TASK, raw["type"])
        task = cls.model_validate(raw, context={"registry": registry})
        assert isinstance(task, RunnableTask)
        return task, FakeRunContext(tmp_path, storage, raw["id"])

    return make


def script(body: str, **extra: Any) -> dict[str, Any]:
    return {"id": "py", "type": "io.kestra.plugin.scripts.python.Script", "script": body, **extra}


async def run(build: Build, raw: dict[str, Any]) -> tuple[Mapping[str, Any], FakeRunContext]:
    task, ctx = build(raw)
    outputs = await task.run(ctx)
    assert outputs is not None
    return outputs, ctx


def parent_of(ctx: FakeRunContext) -> int:
    return int(next(m for m in ctx.messages() if m.startswith("parent ")).split()[1])


def ran_warm(ctx: FakeRunContext) -> bool:
    return parent_of(ctx) in WARM_POOL.pids()


async def wait_for_line(ctx: FakeRunContext, prefix: str) -> str:
    async with asyncio.timeout(10):
        while True:
            found = [m for m in ctx.messages() if m.startswith(prefix)]
            if found:
                return found[0]
            await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (a zygote's spares and running scripts)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return {child for child in map(int, children.read().split()) if alive(child)}


async def wait_until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110 - no event for another process's state
            await asyncio.sleep(0.01)


async def zygote_and_its_spare(build: Build) -> tuple[int, int]:
    """After one warm script: its zygote's pid, and that of the one spare it forked ahead."""
    _, first = await run(build, script(PARENT))
    zygote = parent_of(first)
    await wait_until(lambda: len(children_of(zygote)) == 1)
    (spare,) = children_of(zygote)
    return zygote, spare


async def test_compat_python_outputs_script_runs_warm(build: Build) -> None:
    outputs, ctx = await run(build, script(
        'import json\nrow_count = 1000\nprint("counted", row_count)\n'
        'print("::" + json.dumps({"outputs": {"row_count": row_count}}) + "::")\n' + PARENT,
        taskRunner={"type": "io.kestra.plugin.core.runner.Process"}))
    assert outputs == {"vars": {"row_count": 1000}, "exitCode": 0, "outputFiles": {}}
    assert ctx.messages(LogLevel.INFO)[0] == "counted 1000"
    assert ran_warm(ctx)
    assert ctx.warnings == []


async def test_kestra_helper_outputs_and_metrics_reach_the_task(build: Build) -> None:
    outputs, ctx = await run(build, script(
        "from kestra import Kestra\nKestra.outputs({'a': 1, 'nested': {'b': [1, 2]}})\n"
        "Kestra.counter('rows', 7, {'table': 't'})\nprint('::{\"outputs\": {\"c\": \"x\"}}::')\n" + PARENT))
    assert outputs["vars"] == {"a": 1, "nested": {"b": [1, 2]}, "c": "x"}
    assert ctx.metrics == [("rows", "counter", 7.0, {"table": "t"})]
    assert ran_warm(ctx)


async def test_stdout_is_info_and_stderr_is_error_in_the_order_written(build: Build) -> None:
    _, ctx = await run(build, script("import sys\nfor i in range(3):\n    print('out', i)\n"
                                     "print('bad', file=sys.stderr)\n" + PARENT))
    assert ctx.messages(LogLevel.INFO)[:3] == ["out 0", "out 1", "out 2"]
    assert ctx.messages(LogLevel.ERROR) == ["bad"]
    assert len(ctx.warnings) == 1


async def test_an_uncaught_exception_fails_with_exit_code_1_and_a_script_traceback(build: Build) -> None:
    task, ctx = build(script("def f():\n    raise ValueError('boom')\nf()\n"))
    with pytest.raises(TaskFailure, match="exit code 1"):
        await task.run(ctx)
    errors = ctx.messages(LogLevel.ERROR)
    assert errors[0] == "Traceback (most recent call last):"
    assert errors[-1] == "ValueError: boom"
    assert not any("runpy" in line or "_zygote" in line for line in errors)


@pytest.mark.parametrize(("body", "code"), [
    ("import sys\nsys.exit(3)", 3),
    ("raise SystemExit('bad input')", 1),
    ("import os, sys\nsys.stdout.flush()\nos._exit(5)", 5),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", -9),
])
async def test_exit_codes_fail_the_attempt_as_the_cold_path_does(build: Build, body: str, code: int) -> None:
    task, ctx = build(script(body))
    with pytest.raises(TaskFailure, match=f"exit code {code}$"):
        await task.run(ctx)


async def test_sys_exit_zero_succeeds(build: Build) -> None:
    outputs, _ = await run(build, script("import sys\nprint('::{\"outputs\": {\"n\": 1}}::')\nsys.exit(0)"))
    assert outputs["exitCode"] == 0 and outputs["vars"] == {"n": 1}


async def test_threads_are_joined_and_atexit_handlers_run_before_the_exit(build: Build) -> None:
    _, ctx = await run(build, script(
        "import atexit, threading, time\natexit.register(lambda: print('atexit'))\n"
        "def late():\n    time.sleep(0.05)\n    print('thread')\nthreading.Thread(target=late).start()\n"))
    assert ctx.messages() == ["thread", "atexit"]


async def test_env_and_module_state_do_not_leak_between_runs(build: Build) -> None:
    _, first = await run(build, script(
        "import os, json\nos.environ['LEAKED'] = 'yes'\njson.LEAKED = 'yes'\nimport leaky_mod_xyz\n" + PARENT,
        env={"ONLY_FIRST": "1"}, inputFiles={"leaky_mod_xyz.py": "print('imported')"}))
    assert first.messages()[0] == "imported"
    _, second = await run(build, script(
        "import os, json, sys\nprint(os.environ.get('LEAKED'), os.environ.get('ONLY_FIRST'), "
        "hasattr(json, 'LEAKED'), 'leaky_mod_xyz' in sys.modules)\n" + PARENT))
    assert second.messages()[0] == "None None False False"
    assert ran_warm(first) and parent_of(first) == parent_of(second)


async def test_task_env_working_dir_cwd_and_argv_are_the_cold_paths(build: Build) -> None:
    _, ctx = await run(build, script(
        "import os, sys\nprint(os.getcwd())\nprint(os.environ['GREETING'], os.environ['WORKING_DIR'])\n"
        "print(os.path.dirname(sys.argv[0]) == os.getcwd(), sys.path[0] == os.getcwd())\n"
        "print(open('data.txt').read())\nprint(os.environ['PYTHONUNBUFFERED'], sys.stdin.read() == '')\n" + PARENT,
        env={"GREETING": "hi {{ task.id }}"}, inputFiles={"data.txt": "payload"}))
    workdir = str(ctx.workdirs[0])
    assert ctx.messages()[:5] == [workdir, f"hi py {workdir}", "True True", "payload", "1 True"]
    assert ran_warm(ctx)


async def test_each_run_is_its_own_session_and_a_fresh_fork(build: Build) -> None:
    body = "import os\nprint('ids', os.getpid(), os.getsid(0), os.getpgid(0))\n" + PARENT
    _, first = await run(build, script(body))
    _, second = await run(build, script(body))
    pid1, sid1, pgid1 = (int(x) for x in first.messages()[0].split()[1:])
    pid2 = int(second.messages()[0].split()[1])
    assert pid1 == sid1 == pgid1 and pid1 != pid2


async def test_concurrent_scripts_share_one_zygote_and_keep_their_own_output(build: Build) -> None:
    runs = [run(build, script(f"import time\ntime.sleep(0.02)\nprint('::{{\"outputs\": {{\"n\": {i}}}}}::')\n"
                              + PARENT)) for i in range(6)]
    results = await asyncio.gather(*runs)
    assert [outputs["vars"]["n"] for outputs, _ in results] == list(range(6))
    assert len({parent_of(ctx) for _, ctx in results}) == 1


async def test_a_timeout_ends_the_warm_script_and_every_process_it_started(build: Build) -> None:
    task, ctx = build(script("import subprocess, time\np = subprocess.Popen(['sleep', '300'])\n"
                             "print('child', p.pid)\nprint('ids', __import__('os').getpid())\ntime.sleep(300)\n"))
    running = asyncio.ensure_future(task.run(ctx))
    sleeper = int((await wait_for_line(ctx, "child ")).split()[1])
    pid = int((await wait_for_line(ctx, "ids ")).split()[1])
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await running
    assert group_members(pid) == []
    assert not alive(sleeper) and not alive(pid)


async def test_a_background_child_left_at_exit_is_ended(build: Build) -> None:
    outputs, ctx = await run(build, script(
        "import os, subprocess\np = subprocess.Popen(['sleep', '300'])\nprint('child', p.pid, os.getpid())\n"))
    sleeper, pid = (int(x) for x in ctx.messages()[0].split()[1:])
    assert outputs["exitCode"] == 0
    assert group_members(pid) == [] and not alive(sleeper)


async def test_a_zygote_dying_mid_run_fails_that_run_and_the_next_run_gets_a_new_zygote(build: Build) -> None:
    task, ctx = build(script("import os, subprocess, time\np = subprocess.Popen(['sleep', '300'])\n"
                             "print('ids', os.getpid(), p.pid)\n" + PARENT + "time.sleep(300)\n"))
    running = asyncio.ensure_future(task.run(ctx))
    pid, sleeper = (int(x) for x in (await wait_for_line(ctx, "ids ")).split()[1:])
    zygote = parent_of(ctx)
    os.kill(zygote, signal.SIGKILL)
    with pytest.raises(TaskFailure, match="warm Python interpreter died while the script ran"):
        async with asyncio.timeout(10):
            await running
    assert group_members(pid) == [] and not alive(sleeper)
    assert zygote not in WARM_POOL.pids()
    outputs, after = await run(build, script("print('::{\"outputs\": {\"ok\": true}}::')\n" + PARENT))
    assert outputs["vars"] == {"ok": True}
    assert ran_warm(after) and parent_of(after) != zygote


async def test_a_zygote_killed_between_runs_is_restarted_on_the_next_script(build: Build) -> None:
    _, first = await run(build, script(PARENT))
    os.kill(parent_of(first), signal.SIGKILL)
    # Between runs: dead before the next script is handed over (one dying in that very instant fails
    # that script as a zygote dying mid-run does).
    await wait_until(lambda: not alive(parent_of(first)))
    _, second = await run(build, script(PARENT))
    assert ran_warm(second) and parent_of(second) != parent_of(first)


@pytest.mark.parametrize("extra", [
    {"env": {WARM_ENV: "0"}},
    {"beforeCommands": ["echo before"]},
    {"interpreter": ["/bin/bash", "-c"]},
])
async def test_scripts_the_warm_path_cannot_take_run_cold(build: Build, extra: dict[str, Any]) -> None:
    _, ctx = await run(build, script(PARENT, **extra))
    assert not ran_warm(ctx)


async def test_a_task_setting_interpreter_start_variables_gets_a_zygote_of_its_own(build: Build) -> None:
    body = "import sys\nprint(sys.flags.optimize)\n" + PARENT
    _, plain = await run(build, script(body))
    _, flagged = await run(build, script(body, env={"PYTHONOPTIMIZE": "1"}))
    assert plain.messages()[0] == "0" and flagged.messages()[0] == "1"
    assert ran_warm(plain) and ran_warm(flagged) and parent_of(plain) != parent_of(flagged)


def test_the_warm_path_is_off_when_disabled_or_another_python_comes_first(tmp_path: Path) -> None:
    python = Path(sys.executable).parent / "python"
    own_path = f"{python.parent}{os.pathsep}/usr/bin"
    assert warm_enabled({"PATH": own_path}, python)
    for off in ("0", "false", "OFF", "no"):
        assert not warm_enabled({"PATH": own_path, WARM_ENV: off}, python)
    other = tmp_path / "python"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert not warm_enabled({"PATH": f"{tmp_path}{os.pathsep}{own_path}"}, python)


def test_startup_key_holds_only_what_an_interpreter_reads_at_start() -> None:
    key = startup_key({"PYTHONPATH": "/x", "LANG": "C.UTF-8", "LC_ALL": "C", "HOME": "/h", "PATH": "/bin",
                       "GREETING": "hi"})
    assert key == (("HOME", "/h"), ("LANG", "C.UTF-8"), ("LC_ALL", "C"), ("PYTHONPATH", "/x"))


async def test_kestra_helper_is_preloaded_by_the_zygote_unless_the_preload_list_is_emptied(build: Build) -> None:
    body = "import sys\nprint('kestra' in sys.modules)\n" + PARENT
    _, preloaded = await run(build, script(body))
    _, bare = await run(build, script(body, env={"KESTRA_STREAM_PYTHON_WARM_PRELOAD": ""}))
    assert preloaded.messages()[0] == "True" and bare.messages()[0] == "False"
    assert ran_warm(preloaded) and ran_warm(bare)


async def test_keyboard_interrupt_ends_the_script_by_sigint_as_cpython_does(build: Build) -> None:
    task, ctx = build(script("raise KeyboardInterrupt"))
    with pytest.raises(TaskFailure, match=r"exit code -2$"):
        await task.run(ctx)
    assert ctx.messages(LogLevel.ERROR)[-1] == "KeyboardInterrupt"


async def test_a_spare_is_forked_ahead_and_runs_the_next_script_as_a_fresh_session(build: Build) -> None:
    zygote, spare = await zygote_and_its_spare(build)
    _, second = await run(build, script("import os\nprint('ids', os.getpid(), os.getsid(0))\n" + PARENT))
    pid, sid = (int(x) for x in second.messages()[0].split()[1:])
    assert pid == sid == spare and parent_of(second) == zygote


async def test_a_spare_killed_while_waiting_is_replaced_and_the_script_still_runs_warm(build: Build) -> None:
    zygote, spare = await zygote_and_its_spare(build)
    os.kill(spare, signal.SIGKILL)
    await wait_until(lambda: not alive(spare))
    outputs, second = await run(build, script("print('::{\"outputs\": {\"ok\": true}}::')\n" + PARENT))
    assert outputs["vars"] == {"ok": True}
    assert ran_warm(second) and parent_of(second) == zygote


async def test_the_spare_of_a_killed_zygote_leaves_without_running_anything(build: Build) -> None:
    zygote, spare = await zygote_and_its_spare(build)
    os.kill(zygote, signal.SIGKILL)
    await wait_until(lambda: not alive(zygote))
    _, second = await run(build, script(PARENT))
    assert ran_warm(second) and parent_of(second) != zygote
    await wait_until(lambda: not alive(spare))


async def test_the_script_is_main_as_python_script_py_makes_it(build: Build) -> None:
    outputs, _ = await run(build, script(
        "import pickle, sys\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "same = sys.modules['__main__'].__dict__ is globals()\n"
        "back = pickle.loads(pickle.dumps(Point(3)))\n"
        "print('::' + __import__('json').dumps({'outputs': {'same': same, 'x': back.x, 'name': __name__, "
        "'file': __file__ == sys.argv[0], 'spec': __spec__ is None}}) + '::')\n"))
    assert outputs["vars"] == {"same": True, "x": 3, "name": "__main__", "file": True, "spec": True}
