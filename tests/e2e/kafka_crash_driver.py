"""Drives the Kafka backend's components as separate processes, the way an operator runs them.

``Component`` starts `kestra-stream executor` or `kestra-stream worker` (the CLI, one process each)
on a topic prefix, logs in JSON to a file the test can read (and show when something fails), and
can be stopped with SIGTERM or SIGKILL. ``client`` is the other side: a ``KafkaStack`` with neither
executor nor worker, which applies the topics, deploys the flows and creates and follows executions
through ``KafkaExecutions``. ``FLOWS`` holds the flows the tests run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.models.execution import Execution

__all__ = ["CRASH_FLOW", "CRASH_TASKS", "NAMESPACE", "WHOAMI_FLOW", "Component", "Processes", "client",
           "fresh_settings", "wait_all", "where"]

NAMESPACE = "e2e.kafka"
CRASH_TASKS = ["hello", "nap", "work", "values", "answer"]

# Five tasks: a Log, a Sleep (a timer held by the executor), a shell script with a side effect and up
# to 0.3 s of work (a job that may be running at the crash and run twice, whose result must count
# once), OutputValues and Return.
CRASH_FLOW = f"""
id: crash5
namespace: {NAMESPACE}
inputs:
  - id: n
    type: INT
  - id: sidefile
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "execution {{{{ inputs.n }}}} starts"
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.2S
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "{{{{ taskrun.id }}}}" >> "{{{{ inputs.sidefile }}}}"
      - sleep 0.{{{{ inputs.n % 4 }}}}
      - echo '::{{"outputs":{{"square":{{{{ inputs.n * inputs.n }}}}}}}}::'
  - id: values
    type: io.kestra.plugin.core.output.OutputValues
    values:
      square: "{{{{ outputs.work.vars.square }}}}"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ inputs.n }}}}^2={{{{ outputs['values'].values.square }}}}"
"""

# One job of 0.2 s whose output is the pid of the worker process that ran it: the script's shell
# is a direct child of the worker, so its $PPID names the worker.
WHOAMI_FLOW = f"""
id: whoami
namespace: {NAMESPACE}
tasks:
  - id: who
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.2
      - >-
        echo "::{{\\"outputs\\":{{\\"worker\\":$PPID}}}}::"
"""


def fresh_settings(bootstrap_servers: str, *, partitions: int = 2) -> KafkaSettings:
    """Settings on topics (and so a faust app id and a worker group) no other run has used."""
    return KafkaSettings(bootstrap_servers=bootstrap_servers, topic_prefix=f"e2e-{uuid.uuid4().hex[:10]}.",
                         partitions=partitions)


class Component:
    """One `kestra-stream executor|worker|webserver` process (``options``: its other options); its JSON log
    lines go to ``log_file``."""

    def __init__(self, kind: str, settings: KafkaSettings, log_file: Path, *, home: Path | None = None,
                 options: Iterable[str] = (), env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.log_file = log_file
        args = [sys.executable, "-m", "kestra_stream", "--log-level", "INFO", "--log-format", "json", kind,
                "--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
                "--partitions", str(settings.partitions), *options]
        if home is not None:
            args += ["--home", str(home)]
        with log_file.open("ab") as out:
            # A file, not a pipe: nobody has to drain it, and it outlives the process for the report.
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            env=None if env is None else {**os.environ, **env})

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self) -> list[dict[str, Any]]:
        """The structured log lines written so far (anything else, a traceback, is skipped)."""
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def saw(self, event: str) -> int:
        return sum(1 for e in self.events() if e.get("event") == event)

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.kind} {self.pid} ({self.log_file}) ---\n" + "\n".join(
            self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def wait_for(self, event: str, *, count: int = 1, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while self.saw(event) < count:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.kind} ended (code {self.process.returncode}) before "
                                     f"logging {event}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.kind} did not log {event} within {within}s:\n{self.tail()}")
            time.sleep(0.05)

    def sigkill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)

    def sigterm(self, timeout: float = 30.0) -> int:
        """Ask for a graceful stop; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Never leave a process behind a failed assertion."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)


class Processes:
    """Every component a test starts, so all of them are gone when it ends, passed or not."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Component] = []

    def start(self, component: Component) -> Component:
        self.started.append(component)
        return component

    def describe(self) -> str:
        return "\n".join(c.tail() for c in self.started)

    def close(self) -> None:
        for component in self.started:
            component.close()



@asynccontextmanager
async def client(settings: KafkaSettings, home: Path, flows: Iterable[str]) -> AsyncIterator[KafkaStack]:
    """A client of the backend only: topics applied, ``flows`` deployed, executions followed from now on.

    Deploy before starting an executor process: an executor reads the flows topic to its end when it
    starts, so an execution it folds never names a flow it has not read.
    """
    async with KafkaStack(settings, home=home, executor=False, worker=False) as stack:
        for source in flows:
            stack.deploy(source)
        yield stack


def where(stack: KafkaStack, execution_id: str) -> str:
    """Where an execution stands, as the client last saw it: its state and each task run's attempts."""
    state = stack.state(execution_id)
    if state is None:
        return f"{execution_id}: no snapshot read"
    runs = ", ".join(f"{tr.task_id}={tr.current.value}{[a.state.current.value for a in tr.attempts]}"
                     for tr in state.execution.task_run_list)
    return f"{execution_id}: {state.execution.state.current.value} [{runs}]"


async def wait_all(stack: KafkaStack, execution_ids: Iterable[str], within: float,
                   describe: Callable[[], str] = str) -> dict[str, Execution]:
    """Every execution once finished; on timeout, an AssertionError counting those still running."""
    ids = list(execution_ids)
    try:
        ended = await asyncio.wait_for(asyncio.gather(*(stack.wait(i) for i in ids)), within)
    except TimeoutError:
        unfinished = [i for i in ids if (s := stack.state(i)) is None or not s.finished]
        shown = "\n".join(where(stack, i) for i in unfinished[:5])
        raise AssertionError(f"{len(unfinished)}/{len(ids)} executions unfinished after {within}s:\n{shown}\n"
                             f"{describe()}") from None
    return dict(zip(ids, ended, strict=True))
