"""Runs child processes until SIGTERM/SIGINT, restarting the ones that die, merging their logs.

Children log structlog JSON on stderr (the supervisor starts them with ``--log-format json``);
each line is re-emitted through the supervisor's own structlog, in the format its user chose,
with the child's ``component`` and ``pid`` bound. Other lines (a traceback, a library's print)
are re-emitted as they are, a warning on stderr and an info on stdout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from kestra_stream.errors import KestraStreamError
from kestra_stream.supervisor._child import ENV_PARENT, READY_KEY
from kestra_stream.supervisor._policy import GiveUp, RestartPolicy, after_exit
from kestra_stream.waiting import wait_set

log = structlog.get_logger(__name__)
LINE_LIMIT = 16 * 1024 * 1024  # one JSON log line carries a whole traceback
TAIL_LINES = 20
DRAIN_SECONDS = 5.0
_LEVELS = logging.getLevelNamesMapping()


class ChildFailed(KestraStreamError):
    """A child kept dying: the supervisor stopped everything."""


@dataclass(frozen=True)
class ChildSpec:
    """``start_last``: first started once every other child is ready (an API that answers only when
    the backend behind it runs); its restarts wait for nothing."""

    name: str
    argv: Sequence[str]
    start_last: bool = False


@dataclass
class _Running:
    spec: ChildSpec
    process: asyncio.subprocess.Process
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))


def describe_exit(returncode: int) -> dict[str, Any]:
    if returncode < 0:
        return {"signal": signal.Signals(-returncode).name}
    return {"exit_code": returncode}


class Supervisor:
    """Starts the children together (a ``start_last`` one once the others are ready) and keeps them
    running; ``run`` returns after a clean stop on SIGTERM/SIGINT and raises ``ChildFailed`` when the
    restart policy gives up on a child or one cannot be started at all."""

    def __init__(self, children: Sequence[ChildSpec], policy: RestartPolicy | None = None, *,
                 stop_seconds: float = 20.0, on_ready: Callable[[str, int], None] | None = None,
                 on_all_ready: Callable[[], None] | None = None) -> None:
        self._specs = list(children)
        self._policy = policy or RestartPolicy()
        self._stop_seconds = stop_seconds
        self._on_ready = on_ready
        self._on_all_ready = on_all_ready
        self._running: dict[str, _Running] = {}
        self._ready: set[str] = set()
        self._was_all_ready = False
        self._first_ready = asyncio.Event()  # every child that is not start_last was ready once
        self._stopping = asyncio.Event()
        self._failure: ChildFailed | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        keepers = [asyncio.create_task(self._keep_or_fail(spec), name=f"keep-{spec.name}") for spec in self._specs]
        try:
            await self._stopping.wait()
            await self._stop(keepers)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        """What SIGTERM does: stop every child (SIGTERM, SIGKILL after ``stop_seconds``), then return."""
        self._stopping.set()

    async def _stop(self, keepers: list[asyncio.Task[None]]) -> None:
        for running in self._running.values():
            self._signal(running, signal.SIGTERM)
        _, late = await asyncio.wait(keepers, timeout=self._stop_seconds)
        if late:
            for running in self._running.values():
                if running.process.returncode is None:
                    log.warning("child_killed", component=running.spec.name, pid=running.process.pid,
                                after_seconds=self._stop_seconds)
                    self._signal(running, signal.SIGKILL)
        await asyncio.gather(*keepers)

    @staticmethod
    def _signal(running: _Running, sig: signal.Signals) -> None:
        if running.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                running.process.send_signal(sig)

    async def _keep_or_fail(self, spec: ChildSpec) -> None:
        try:
            await self._keep(spec)
        except OSError as exc:  # its program is missing or cannot run: no restart helps
            self._failure = ChildFailed(f"could not start the {spec.name} component ({spec.argv[0]}): {exc}")
            self._stopping.set()

    async def _keep(self, spec: ChildSpec) -> None:
        if spec.start_last:
            while not (self._first_ready.is_set() or self._stopping.is_set()):
                await wait_set(self._first_ready, 0.2)
        fast_failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *spec.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, ENV_PARENT: str(os.getpid()), "PYTHONUNBUFFERED": "1"}, limit=LINE_LIMIT)
            running = _Running(spec, process)
            self._running[spec.name] = running
            if self._stopping.is_set():  # the stop's SIGTERMs went out while this one was being started
                self._signal(running, signal.SIGTERM)
            log.info("child_started", component=spec.name, pid=process.pid)
            assert process.stdout is not None and process.stderr is not None
            pumps = [asyncio.create_task(self._pump(running, process.stdout, stdout=True)),
                     asyncio.create_task(self._pump(running, process.stderr, stdout=False))]
            returncode = await process.wait()
            # A grandchild holding a pipe must not keep this child from being restarted.
            _, stuck = await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
            for pump in stuck:
                pump.cancel()
            self._ready.discard(spec.name)
            if self._stopping.is_set():
                log.info("child_stopped", component=spec.name, pid=process.pid, **describe_exit(returncode))
                return
            uptime = time.monotonic() - started
            log.error("child_died", component=spec.name, pid=process.pid, uptime_seconds=round(uptime, 1),
                      **describe_exit(returncode))
            decision = after_exit(self._policy, fast_failures, uptime)
            if isinstance(decision, GiveUp):
                self._give_up(running, returncode, decision.fast_failures)
                return
            fast_failures = decision.fast_failures
            log.warning("child_restarting", component=spec.name, in_seconds=decision.delay,
                        fast_failures=fast_failures)
            await wait_set(self._stopping, decision.delay)

    def _give_up(self, running: _Running, returncode: int, failures: int) -> None:
        exit_ = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in describe_exit(returncode).items())
        lines = "\n".join(f"  {line}" for line in running.tail) or "  (it wrote nothing)"
        self._failure = ChildFailed(
            f"the {running.spec.name} component died {failures} times in a row within "
            f"{self._policy.fast_run:g} s of starting (last {exit_}); every component was stopped. "
            f"Its last lines:\n{lines}")
        self._stopping.set()

    async def _pump(self, running: _Running, stream: asyncio.StreamReader, *, stdout: bool) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line past LINE_LIMIT: its start is lost, the rest still flows
                continue
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._emit(running, line, stdout=stdout)

    def _emit(self, running: _Running, line: str, *, stdout: bool) -> None:
        name, pid = running.spec.name, running.process.pid
        fields = _json_object(line)
        if stdout and fields is not None and READY_KEY in fields:
            self._mark_ready(name, pid, str(fields[READY_KEY]))
            return
        running.tail.append(line)
        if fields is not None and "event" in fields:
            event = str(fields.pop("event"))
            level = _LEVELS.get(str(fields.pop("level", "info")).upper(), logging.INFO)
            fields.pop("timestamp", None)  # the re-emission stamps its own, a few microseconds later
            log.log(level, event, **{**fields, "component": name, "pid": pid})
        else:
            log.log(logging.INFO if stdout else logging.WARNING, line, component=name, pid=pid)

    def _mark_ready(self, name: str, pid: int, banner: str) -> None:
        log.info("child_ready", component=name, pid=pid, banner=banner)
        self._ready.add(name)
        if {spec.name for spec in self._specs if not spec.start_last} <= self._ready:
            self._first_ready.set()
        if self._on_ready is not None:
            self._on_ready(name, pid)
        if not self._was_all_ready and len(self._ready) == len(self._specs):
            self._was_all_ready = True  # the ready line is for the start, not for every restart
            if self._on_all_ready is not None:
                self._on_all_ready()


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
