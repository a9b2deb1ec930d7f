"""Following one execution from the command line, as it runs.

Its states and log lines are shown as they come; a pause is shown with what resumes it (Enter on
a terminal, or a command from another shell when the execution outlives this process); Ctrl-C
kills the execution, and a second Ctrl-C leaves at once.

Backends call their listeners on any thread (the Kafka client has its own): everything is handed
to the event loop through one queue, and decided there.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import click

from kestra_stream.backend import Backend
from kestra_stream.cli._inputs import parse_inputs
from kestra_stream.errors import KestraStreamError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import PauseTask

EXIT_INTERRUPTED = 130  # the second Ctrl-C: the shell's convention for a process ended by SIGINT


class FollowedBackend(Backend, Protocol):
    """A backend whose log lines can be followed as they are written (both backends can)."""

    def subscribe_logs(self, listener: Callable[[list[LogEntry]], None]) -> None: ...


class View(Protocol):
    """Where a followed execution is shown."""

    def state(self, execution: Execution) -> None: ...
    def logs(self, entries: list[LogEntry]) -> None: ...
    def notice(self, text: str) -> None: ...


@dataclass(frozen=True)
class Resumable:
    """How a paused execution can be resumed while this process follows it."""

    on_terminal: bool  # Enter resumes it: stdin is a terminal
    command: str | None  # a command another shell can run (None: the execution dies with this process)


@dataclass(frozen=True)
class _Interrupted:
    pass


@dataclass(frozen=True)
class _Line:
    text: str


def paused_tasks(execution: Execution) -> list[str]:
    return [tr.task_id for tr in execution.task_run_list if tr.state.current == StateType.PAUSED]


def waits_for_someone(execution: Execution, flow: Flow) -> bool:
    """Whether only a resume ends this pause: paused on request, or by a Pause with no delay, duration or timeout."""
    tasks = [flow.find_task(task_id) for task_id in paused_tasks(execution)]
    return not tasks or any(isinstance(task, PauseTask) and task.delay is None and task.pause_duration is None
                            and task.timeout is None for task in tasks)


class Follower:
    """Subscribed before the execution exists, so that nothing it does is missed."""

    def __init__(self, backend: FollowedBackend, flow: Flow, view: View) -> None:
        self._backend = backend
        self._flow = flow
        self._view = view
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._interrupted = False
        backend.subscribe(self._post)
        backend.subscribe_logs(self._post)

    def _post(self, item: object) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, item)

    async def follow(self, execution_id: str, resumable: Resumable) -> Execution:
        """The execution once it ended; once it paused, if nothing can resume it (check its state)."""
        waiter = asyncio.ensure_future(self._backend.wait(execution_id))
        waiter.add_done_callback(self._inbox.put_nowait)
        # A plain handler rather than the loop's: it also catches a second Ctrl-C while the backend
        # shuts down after this method returned, and that one must leave at once.
        previous = signal.signal(signal.SIGINT, lambda _signum, _frame: self._on_interrupt(execution_id))
        reading = False
        paused = False
        try:
            if (known := self._backend.state(execution_id)) is not None:
                self._inbox.put_nowait(known)
            while True:
                item = await self._inbox.get()
                if item is waiter:
                    return waiter.result()  # the end (or the backend's failure)
                if isinstance(item, ExecutionState) and item.execution.id == execution_id:
                    execution = item.execution
                    self._view.state(execution)
                    now_paused = execution.state.current == StateType.PAUSED
                    if now_paused and not paused:
                        forever = waits_for_someone(execution, self._flow)
                        self._view.notice(_pause_notice(execution, resumable, ends_by_itself=not forever))
                        if forever and not resumable.on_terminal and resumable.command is None:
                            return execution
                        if resumable.on_terminal and not reading:
                            self._loop.add_reader(sys.stdin.fileno(), self._read_line)
                            reading = True
                    elif paused and not now_paused and not execution.state.current.is_terminated:
                        self._view.notice(f"execution {execution_id} resumed: {execution.state.current.value}")
                    paused = now_paused
                elif isinstance(item, list):
                    self._view.logs([e for e in item if isinstance(e, LogEntry) and e.execution_id == execution_id])
                elif isinstance(item, _Interrupted):
                    await self._backend.kill(execution_id)
                elif isinstance(item, _Line) and paused:
                    await self._resume(execution_id, item.text, resumable)
        finally:
            if not self._interrupted:
                signal.signal(signal.SIGINT, previous)
            if reading:
                self._loop.remove_reader(sys.stdin.fileno())
            waiter.cancel()

    def _read_line(self) -> None:
        text = os.read(sys.stdin.fileno(), 4096).decode(errors="replace")
        if not text:  # end of input: nothing more will resume it from here
            self._loop.remove_reader(sys.stdin.fileno())
            return
        self._inbox.put_nowait(_Line(text))

    def _on_interrupt(self, execution_id: str) -> None:
        """Runs between two bytecodes of the loop's thread: it only hands work to the loop, or leaves."""
        if self._interrupted:
            os.write(2, f"left without waiting: execution {execution_id} may still be running\n".encode())
            os._exit(EXIT_INTERRUPTED)
        self._interrupted = True
        self._loop.call_soon_threadsafe(self._view.notice,
                                        f"killing execution {execution_id} (Ctrl-C again to leave at once)")
        self._loop.call_soon_threadsafe(self._inbox.put_nowait, _Interrupted())

    async def _resume(self, execution_id: str, line: str, resumable: Resumable) -> None:
        """Enter alone resumes; ``KEY=VALUE`` pairs on the line are the Pause task's onResume inputs."""
        try:
            inputs = parse_inputs(shlex.split(line))
        except (ValueError, click.BadParameter) as exc:
            self._view.notice(f"cannot read that line ({exc}): type nothing, or KEY=VALUE pairs quoted as in a "
                              "shell, then Enter")
            return
        try:
            await self._backend.resume(execution_id, inputs, from_text=True)
        except KestraStreamError as exc:  # an invalid onResume input: it stays paused, ask again
            self._view.notice(f"not resumed: {exc}; type its onResume inputs as KEY=VALUE pairs, then Enter"
                              + (f", or run `{resumable.command} -i KEY=VALUE`" if resumable.command else ""))


def _pause_notice(execution: Execution, resumable: Resumable, *, ends_by_itself: bool) -> str:
    tasks = paused_tasks(execution)
    where = f"at task {', '.join(repr(t) for t in tasks)}" if tasks else "(paused on request)"
    ways = []
    if resumable.on_terminal:
        ways.append("press Enter to resume it (after KEY=VALUE pairs for its onResume inputs, if any)")
    if resumable.command is not None:
        ways.append(f"resume it from another shell with `{resumable.command}`")
    if ends_by_itself:
        ways.append("wait: the pause ends by itself (its delay, duration or timeout)")
    if not ways:
        return (f"execution {execution.id} PAUSED {where}: nothing can resume it once this command exits (the "
                "embedded engine runs inside it); run it on a terminal to resume it with Enter, or on the Kafka "
                "backend (--backend kafka) to resume it with `kestra-stream execution resume`")
    return f"execution {execution.id} PAUSED {where}: {', or '.join(ways)}; Ctrl-C kills it"
