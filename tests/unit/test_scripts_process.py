"""The pieces under the script tasks: process groups, the ::{json}:: protocol, output globs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from kestra_stream_plugin_scripts import (
    ScriptOutputCollector,
    glob_to_regex,
    group_members,
    match_output_files,
    run_process,
)

from kestra_stream.models.task import LogLevel
from kestra_stream.storage import LocalStorage, Storage
from tests._pidfiles import written_pids


class LogOnlyContext:
    """Just enough of a run context for the output collector: logs and metrics."""

    def __init__(self, tmp: Path) -> None:
        self.logs: list[tuple[LogLevel, str]] = []
        self.metrics: list[tuple[str, str, float, dict[str, str]]] = []
        self._storage = LocalStorage(tmp / "storage")

    execution_id = "E1"
    taskrun_id = "TR1"
    attempt_number = 1
    variables: Mapping[str, Any] = {}

    def render(self, value: Any) -> Any:
        return value

    def render_string(self, value: Any) -> str:
        return str(value)

    def log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))

    def set_labels(self, labels: Mapping[str, str]) -> None:
        raise AssertionError("not used")

    def set_warning(self, reason: str) -> None:
        raise AssertionError("not used")

    def working_directory(self) -> Path:
        raise AssertionError("not used")

    @property
    def storage(self) -> Storage:
        return self._storage

    def metric(self, name: str, type: str, value: float, tags: dict[str, str]) -> None:
        self.metrics.append((name, type, value, tags))


@pytest.fixture
def ctx(tmp_path: Path) -> LogOnlyContext:
    return LogOnlyContext(tmp_path)


def test_plain_lines_become_info_and_error_logs(ctx: LogOnlyContext) -> None:
    collector = ScriptOutputCollector(ctx)
    collector("hello", False)
    collector("oops", True)
    assert ctx.logs == [(LogLevel.INFO, "hello"), (LogLevel.ERROR, "oops")]
    assert (collector.stdout_count, collector.stderr_count) == (1, 1)


def test_protocol_outputs_merge_shallowly_and_are_not_logged(ctx: LogOnlyContext) -> None:
    collector = ScriptOutputCollector(ctx)
    collector('::{"outputs": {"a": {"x": 1}, "b": 2}}::', False)
    collector('::{"outputs": {"a": {"y": 3}}}::', True)
    assert collector.vars == {"a": {"y": 3}, "b": 2}
    assert ctx.logs == []
    assert collector.stderr_count == 1


def test_protocol_logs_and_metrics(ctx: LogOnlyContext) -> None:
    collector = ScriptOutputCollector(ctx)
    collector('::{"logs": [{"level": "WARNING", "message": "careful"}, {"level": "DEBUG", "message": "d"}],'
              ' "metrics": [{"name": "rows", "type": "counter", "value": 5, "tags": {"t": 1}}]}::', False)
    assert ctx.logs == [(LogLevel.WARN, "careful"), (LogLevel.DEBUG, "d")]
    assert ctx.metrics == [("rows", "counter", 5.0, {"t": "1"})]
    assert collector.metrics[0].name == "rows"


@pytest.mark.parametrize("line", ['::{"outputs": nope}::', '::{"outputs": [1]}::',
                                  '::{"metrics": [{"type": "counter"}]}::', '::{"logs": [{"level": "LOUD"}]}::'])
def test_invalid_protocol_line_is_a_warning_not_a_crash(ctx: LogOnlyContext, line: str) -> None:
    collector = ScriptOutputCollector(ctx)
    collector(line, False)
    assert ctx.logs[-1][0] == LogLevel.WARN
    assert "Invalid outputs" in ctx.logs[-1][1]


def test_line_that_only_looks_like_protocol_is_logged(ctx: LogOnlyContext) -> None:
    collector = ScriptOutputCollector(ctx)
    collector(":: not json ::", False)
    collector('::{"outputs": {"a": 1}}:: trailing', False)
    assert [m for _, m in ctx.logs] == [":: not json ::", '::{"outputs": {"a": 1}}:: trailing']
    assert collector.vars == {}


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.csv", "a.csv", True),
    ("*.csv", "dir/a.csv", False),
    ("**/*.csv", "a.csv", True),
    ("**/*.csv", "dir/sub/a.csv", True),
    ("**", "dir/sub/a.csv", True),
    ("out/?.txt", "out/a.txt", True),
    ("out/?.txt", "out/ab.txt", False),
    ("{a,b}.txt", "b.txt", True),
    ("{a,b}.txt", "c.txt", False),
    ("[!x]*.log", "y1.log", True),
    ("[!x]*.log", "x1.log", False),
    ("a+b(1).txt", "a+b(1).txt", True),
])
def test_output_globs_follow_java_glob_rules(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(pattern).match(path)) is matches


def test_match_output_files_skips_links_out_of_the_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "d").mkdir(parents=True)
    (work / "a.txt").write_text("a")
    (work / "d" / "b.txt").write_text("b")
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", work / "leak.txt")
    found = [p.relative_to(work).as_posix() for p in match_output_files(work, ["**/*.txt"])]
    assert found == ["a.txt", "d/b.txt"]
    assert match_output_files(work, []) == []


async def test_run_process_streams_lines_and_returns_exit_code(tmp_path: Path) -> None:
    lines: list[tuple[str, bool]] = []
    code = await run_process(["/bin/sh", "-c", "printf 'one\\r\\ntwo'; echo err >&2; exit 4"], cwd=tmp_path,
                             env=dict(os.environ), on_line=lambda line, err: lines.append((line, err)))
    assert code == 4
    assert sorted(lines) == [("err", True), ("one", False), ("two", False)]


async def test_very_long_line_is_one_line(tmp_path: Path) -> None:
    lines: list[str] = []
    script = "import sys; sys.stdout.write('x' * 300000 + '\\n')"
    code = await run_process([sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ),
                             on_line=lambda line, err: lines.append(line))
    assert code == 0
    assert lines == ["x" * 300000]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in (b"Z", b"X")


async def test_background_child_is_ended_when_the_main_process_exits(tmp_path: Path) -> None:
    lines: list[str] = []
    # Waiting for the background sleep would take 300 s: the deadline only bounds that failure.
    code = await asyncio.wait_for(
        run_process(["/bin/sh", "-c", "sleep 300 & echo $!; echo main $$"], cwd=tmp_path,
                    env=dict(os.environ), on_line=lambda line, err: lines.append(line)), 120)
    assert code == 0
    child = int(lines[0])
    main = int(lines[1].split()[1])
    assert not _alive(child)
    assert group_members(main) == []


async def test_cancelling_kills_the_whole_group_even_a_child_ignoring_sigterm(tmp_path: Path) -> None:
    script = ("trap '' TERM; sh -c 'trap \"\" TERM; sleep 300' & echo $! > bg.pid; echo $$ > main.pid; "
              "while true; do sleep 1; done")
    task = asyncio.create_task(run_process(["/bin/sh", "-c", script], cwd=tmp_path, env=dict(os.environ),
                                           on_line=lambda line, err: None, kill_grace=0.3))
    # The pid files are written by the child processes: nothing to await but the files.
    while (pids := written_pids(tmp_path / "main.pid", tmp_path / "bg.pid")) is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    main, bg = pids
    assert _alive(main) and _alive(bg)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(main)
    assert not _alive(bg)
    assert group_members(main) == []
