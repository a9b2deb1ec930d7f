"""Folders built once and shared by every task that asks for the same key (Python and Node.js environments).

Concurrent builds of one key, in this process or another worker on the machine, are safe: the
builder holds ``<key>.lock`` (``flock``), builds in a private staging folder, and renames it into
place once complete (a marker file inside says so). Readers only look for the marker, so they
never see half a folder. The tools that build them (uv, npm) run through ``Tool``: their output
goes to the task's debug logs and their last lines into the error when they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import LogLevel
from kestra_stream_plugin_scripts._process import run_process

DONE = ".kestra-stream-complete"
TaskLog = Callable[[LogLevel, str], None]
"""Where a build's progress goes: the task's log (``RunContext.log``)."""
_LOCK_POLL = 0.05


class Tool:
    """Runs a build tool for one task, its output going to the task's logs (the last lines kept for an error)."""

    def __init__(self, log: TaskLog, env: Mapping[str, str], name: str) -> None:
        self.log = log
        self.env = dict(env)
        self.name = name
        self.tail: deque[str] = deque(maxlen=20)

    def _on_line(self, line: str, is_stderr: bool) -> None:
        self.tail.append(line)
        self.log(LogLevel.DEBUG, line)

    async def run(self, args: list[str], *, what: str, fix: str, cwd: Path | None = None) -> None:
        code = await run_process(args, cwd=cwd or Path(tempfile.gettempdir()), env=self.env, on_line=self._on_line)
        if code != 0:
            detail = "\n".join(self.tail)
            raise TaskFailure(f"{self.name} could not {what} (exit code {code}); {fix}:\n{detail}")


@contextlib.asynccontextmanager
async def locked(path: Path) -> AsyncIterator[None]:
    # Polled rather than blocking in a thread: a task cancelled while waiting leaves at once.
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_complete(target: Path) -> bool:
    return (target / DONE).is_file()


async def build_once(root: Path, key: str, build: Callable[[Path], Awaitable[None]],
                     on_reuse: Callable[[], None], on_build: Callable[[], None]) -> Path:
    """``root / key``, built first by ``build(staging)`` unless a complete one exists.

    Looked for on every call: a folder removed since the last one is rebuilt, not used.
    """
    target = root / key
    if is_complete(target):
        on_reuse()
        return target
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    async with locked(root / f"{key}.lock"):
        if is_complete(target):  # built by whoever held the lock before
            on_reuse()
            return target
        on_build()
        staging = root / f".staging-{key}-{secrets.token_hex(4)}"
        try:
            await build(staging)
            await asyncio.to_thread((staging / DONE).touch)
            # An incomplete folder left by a builder that died: nobody can be using it.
            await asyncio.to_thread(shutil.rmtree, target, True)
            await asyncio.to_thread(os.replace, staging, target)
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
    return target
