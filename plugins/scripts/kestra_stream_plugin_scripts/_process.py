"""Running one command in its own process group, streaming its output line by line.

The child starts a new session (``start_new_session=True``), so its process group holds it and
everything it spawns. Whatever way the run ends, that group is emptied: after a normal exit any
process left behind (``sleep 300 &``) is terminated, and on cancellation (a kill or a timeout of
the task) the whole group gets SIGTERM, a short grace, then SIGKILL, before CancelledError goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

LineHandler = Callable[[str, bool], None]
"""Called with each output line (without its newline) and whether it came from stderr."""

_CHUNK = 1 << 16
_HAS_PROC = os.path.isdir("/proc/self")


async def pump_lines(stream: asyncio.StreamReader, is_stderr: bool, on_line: LineHandler) -> None:
    # Reading chunks rather than readline(): a line longer than the stream limit is not an error.
    pending = b""
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            on_line(raw.removesuffix(b"\r").decode("utf-8", errors="replace"), is_stderr)
    if pending:
        on_line(pending.removesuffix(b"\r").decode("utf-8", errors="replace"), is_stderr)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc.

    Zombies are left out: a grandchild reparented to a PID 1 that never reaps stays a zombie,
    and it holds no resource worth waiting for.
    """
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry.name))
    return members


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _HAS_PROC or bool(group_members(pgid))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


async def end_group(pgid: int, grace: float, *, leader_done: Callable[[], bool],
                    wait_leader: Callable[[], Awaitable[object]]) -> None:
    """SIGTERM the whole group ``pgid``, wait up to ``grace`` seconds for it to empty, SIGKILL what
    is left, and wait for the leader to be reaped (whoever its parent is)."""
    _signal_group(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    # The leader's end is reported on its own (child watcher, zygote); polling it avoids stacking waiters.
    while loop.time() < deadline:
        if leader_done() and not _group_alive(pgid):
            return
        await asyncio.sleep(0.02)
    if _group_alive(pgid):
        log.warning("process_group_killed", pgid=pgid, grace_seconds=grace)
        _signal_group(pgid, signal.SIGKILL)
    await wait_leader()
    # SIGKILL is delivered asynchronously: wait until the kernel has ended every member.
    deadline = loop.time() + 5.0
    while _group_alive(pgid) and loop.time() < deadline:  # noqa: ASYNC110 - no event for a pid ending
        await asyncio.sleep(0.01)


async def end_process_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """:func:`end_group` for a direct child started in its own session, reaping it."""
    await end_group(process.pid, grace, leader_done=lambda: process.returncode is not None,
                    wait_leader=process.wait)


def group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a live member."""
    return _group_alive(pgid)


async def reader_of(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_CHUNK)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", buffering=0))
    return reader, transport


async def run_process(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: LineHandler,
    kill_grace: float = 2.0,
) -> int:
    """Run ``args`` to the end and return its exit code; every output line goes to ``on_line``
    as it is written."""
    # Pipes of our own rather than asyncio's: on Python 3.11 Process.wait() also waits for the
    # pipes to close, which a background child holding them would delay for ever.
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    # A cancellation while the child is being spawned would make asyncio SIGKILL the direct child
    # only, orphaning whatever it started already: spawn shielded, and end the whole group instead.
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *args, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=out_write, stderr=err_write, start_new_session=True,
    ))
    try:
        process = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(_end_spawned(spawn, kill_grace))
        for fd in (out_read, err_read):
            os.close(fd)
        raise
    except BaseException:
        for fd in (out_read, err_read):
            os.close(fd)
        raise
    finally:
        os.close(out_write)
        os.close(err_write)
    transports: list[asyncio.BaseTransport] = []
    pumps: asyncio.Future[tuple[None, None]] | None = None
    log.debug("process_started", pid=process.pid, args=list(args))
    try:
        stdout, out_transport = await reader_of(out_read)
        transports.append(out_transport)
        stderr, err_transport = await reader_of(err_read)
        transports.append(err_transport)
        pumps = asyncio.gather(pump_lines(stdout, False, on_line), pump_lines(stderr, True, on_line))
        code = await process.wait()
        # Children left running would hold the pipes open and outlive the task: end them, then
        # read whatever they wrote before.
        if _group_alive(process.pid):
            await end_process_group(process, kill_grace)
        await pumps
    except BaseException:
        await asyncio.shield(_cancel_cleanup(process, pumps, kill_grace))
        raise
    finally:
        for transport in transports:
            transport.close()
    log.debug("process_exited", pid=process.pid, exit_code=code)
    return code


async def _end_spawned(spawn: asyncio.Future[asyncio.subprocess.Process], grace: float) -> None:
    process = await spawn
    await end_process_group(process, grace)


async def _cancel_cleanup(process: asyncio.subprocess.Process, pumps: asyncio.Future[tuple[None, None]] | None,
                          grace: float) -> None:
    await end_process_group(process, grace)
    if pumps is not None:
        pumps.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumps
