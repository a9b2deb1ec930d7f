"""A process killed with SIGKILL between two events loses nothing and resumes its executions when started again.

``crash_worker.py`` runs 50 executions of the ``crash`` flow (Log, Sleep, a shell script with a side
effect, OutputValues, Return, Log) on an embedded engine. The test kills it with SIGKILL at a chosen
point, starts it again on the same home in ``resume`` mode, and reads the SQLite file to check that

- every execution ends SUCCESS with every task run present once, with exactly one attempt, SUCCESS;
- outputs are those of the inputs (nothing lost, nothing mixed up between executions);
- the script may have run again after the crash (at-least-once jobs) but its result was applied once;
- nothing is left behind: every event applied, no job, timer or outbox command pending.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from kestra_stream.executor.wire import STATES
from kestra_stream.models.state import StateType

WORKER = Path(__file__).parent / "crash_worker.py"
COUNT = 50
TASKS = ["hello", "nap", "work", "values", "answer", "bye"]
DB_NAME = "kestra-stream.db"
PROGRESS = re.compile(r"^progress total=(\d+) finished=(\d+) jobs=(\d+)$")


@dataclass(frozen=True)
class Progress:
    total: int
    finished: int
    jobs: int


class Worker:
    """The worker process, its stdout read line by line on a thread so reads can time out."""

    def __init__(self, home: Path, mode: str, sidefile: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(home), mode, "--count", str(COUNT), "--sidefile", str(sidefile),
             "--deadline", "25"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def progress_until(self, wanted: Callable[[Progress], bool], timeout: float) -> Progress:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no wanted progress line within {timeout}s") from None
            if line is None:
                raise AssertionError(f"the worker ended before the kill point: {self.finish()}")
            self.seen.append(line)
            match = PROGRESS.match(line)
            if match:
                progress = Progress(*(int(g) for g in match.groups()))
                if wanted(progress):
                    return progress

    def sigkill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)
        self._reader.join(timeout=5)
        assert self.process.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 30) -> str:
        """Wait for the end; returns stderr (engine logs) for assertion messages."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        # Never leave the process behind a failed assertion, nor its pipes open.
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)
        self._reader.join(timeout=5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def stdout_lines(self) -> list[str]:
        """Every line written, once the process has ended."""
        while (line := self.lines.get_nowait()) is not None:
            self.seen.append(line)
        return self.seen


def store_rows(home: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(home / DB_NAME)) as db:
        return list(db.execute(sql))


def count(home: Path, table: str, where: str = "1") -> int:
    return int(str(store_rows(home, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]))


KILL_POINTS: dict[str, Callable[[Progress], bool]] = {
    # Every execution created; Sleep timers pending, the first Log jobs maybe in flight.
    "timers_pending": lambda p: p.total == COUNT and p.finished == 0,
    # Shell scripts running in subprocesses of the worker (their results not yet folded).
    "scripts_running": lambda p: p.jobs >= 10 and p.finished == 0,
    # Some executions ended, others in the middle of their tasks.
    "mid_way": lambda p: COUNT // 5 <= p.finished < COUNT,
}


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_sigkill_between_events_loses_nothing_and_resumes_every_execution(tmp_path: Path, kill_point: str) -> None:
    home = tmp_path / "home"
    sidefile = tmp_path / "side-effects.txt"

    with Worker(home, "create", sidefile) as first:
        # Generous: on a loaded CI machine (load 28 on 2 cores, seen) 20 s was not enough to get there.
        at_kill = first.progress_until(KILL_POINTS[kill_point], timeout=120)
        first.sigkill()
        created = [line.split()[2] for line in first.stdout_lines() if line.startswith("created ")]
    assert len(created) == COUNT
    finished_at_kill = count(home, "executions", "finished = 1")
    assert finished_at_kill < COUNT, f"the kill came too late to test anything ({at_kill})"

    with Worker(home, "resume", sidefile) as second:
        stderr = second.finish(timeout=180)
        assert second.process.returncode == 0, f"resume did not finish every execution:\n{stderr[-3000:]}"

    states = {str(i): STATES.decode(str(body))
              for i, body in store_rows(home, "SELECT id, body FROM executions")}
    assert sorted(states) == sorted(created)
    for state in states.values():
        execution = state.execution
        assert execution.state.current == StateType.SUCCESS, execution.id
        assert [tr.task_id for tr in execution.task_run_list] == TASKS, execution.id
        for tr in execution.task_run_list:
            assert [a.state.current for a in tr.attempts] == [StateType.SUCCESS], (execution.id, tr.task_id)
            assert tr.current == StateType.SUCCESS
        n = int((execution.inputs or {})["n"])
        assert execution.taskruns_of("work")[0].outputs == {"vars": {"square": n * n}, "exitCode": 0,
                                                             "outputFiles": {}}
        assert execution.taskruns_of("answer")[0].outputs == {"value": f"{n}^2={n * n}"}

    # At least once: every script ran, some maybe twice (a job re-run after the crash) ...
    runs = Counter(sidefile.read_text().split())
    work_runs = {execution.taskruns_of("work")[0].id for execution in (s.execution for s in states.values())}
    assert set(runs) == work_runs
    # ... but its result counted once (one attempt above), and nothing is left pending.
    assert count(home, "events", "applied = 0") == 0
    assert count(home, "jobs") == 0
    assert count(home, "timers") == 0
    assert count(home, "outbox") == 0
