"""The warm path for short Python scripts: a pre-started interpreter (zygote) forks one child per script.

A cold run pays ``/bin/sh`` plus a Python start (~30 ms) per task; here the zygote (see ``_zygote.py``)
is started once per worker event loop and set of start-up variables, lazily, and restarted when it
dies. It forks each child ahead ("spare") and passes the spare's socket to the worker, which hands
the script to the spare directly and then asks for the next one: forking is off the script's path.
Each script still runs in a process of its own, in a new session, so the Process runner's
guarantees hold: output streamed line by line, a fresh working directory as cwd, the task's
environment, the exit code, and on a kill or timeout the whole process group ended.

The trade-off (documented in plugins/scripts/README.md): the child inherits the zygote's
interpreter, so only variables read at interpreter start (``PYTHON*``, locale, ``HOME``) select a
zygote; a task setting them gets a zygote of its own, and anything else about the interpreter
(flags, ``sys.path`` from site) is the worker's.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from kestra_stream.errors import KestraStreamError, TaskFailure
from kestra_stream_plugin_scripts._process import LineHandler, end_group, group_alive, pump_lines, reader_of

log = structlog.get_logger(__name__)

WARM_ENV = "KESTRA_STREAM_PYTHON_WARM"
"""Set to 0 / false / no / off (in the worker's or the task's env) to run every Python script cold."""
PRELOAD_ENV = "KESTRA_STREAM_PYTHON_WARM_PRELOAD"
"""Comma-separated modules the zygote imports once (default: Kestra's helper ``kestra``, for scripts that
name it; empty: none)."""
DEFAULT_PRELOAD = "kestra"

_ZYGOTE_FILE = Path(__file__).with_name("_zygote.py")
_START_TIMEOUT = 10.0
_MAX_ZYGOTES = 4
_OFF = frozenset({"0", "false", "no", "off"})
_NAMES_KESTRA = re.compile(r"\bkestra\b")


class WarmUnavailable(KestraStreamError):
    """The warm path cannot take this script (zygote failed to start, request too large): run it cold."""


class ZygoteLost(TaskFailure):
    """The zygote died while the script ran; the script's process group was ended (retrying may succeed)."""


def preload_for(source: str) -> str:
    """The modules a zygote preloads for the script ``source`` (unless ``PRELOAD_ENV`` is set): Kestra's
    helper for a script that names it, nothing for the others.

    The helper imports ``requests`` and friends: a zygote holding them is ~30 MB instead of ~12, and
    each fork and exit of its children copies and tears down that much more page table (~2.5 ms a
    script, measured). A script that names ``kestra`` without importing it (a comment) only pays
    that cost; one that imports it by a computed name still gets it, by importing it itself.
    """
    return DEFAULT_PRELOAD if _NAMES_KESTRA.search(source) else ""


def startup_key(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The variables an interpreter reads while starting: scripts whose values differ need different zygotes."""
    return tuple(sorted((k, v) for k, v in env.items()
                        if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "HOME", PRELOAD_ENV)))


def warm_enabled(env: Mapping[str, str], python: Path) -> bool:
    """Whether a script the cold path would start under ``env`` may run warm on ``python`` instead: not
    switched off, and ``python`` is what the cold path would find (a task may put another first on PATH)."""
    if env.get(WARM_ENV, "").strip().lower() in _OFF:
        return False
    found = shutil.which("python", path=env.get("PATH"))
    return found is not None and Path(found) == python


# A zygote serves the scripts with the same interpreter, start-up variables and preloaded modules.
ZygoteKey = tuple[str, tuple[tuple[str, str], ...], str]


@dataclass(frozen=True)
class Child:
    """A script's process: its pid (also its process group id) and its exit code to come,
    None if the zygote died before reporting it."""

    pid: int
    exit: asyncio.Future[int | None]


@dataclass(frozen=True)
class _Spare:
    """A child the zygote forked ahead, waiting for a script on ``sock`` (our end)."""

    pid: int
    sock: socket.socket


class Zygote:
    """One zygote process, the socket to it and the spares it handed over, served by the running event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: ZygoteKey,
                 process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.loop = loop
        self.key = key
        self.process = process
        self._sock = sock
        self._ready: asyncio.Future[int] = loop.create_future()
        self._spares: collections.deque[_Spare] = collections.deque()
        self._spare_waiters: collections.deque[asyncio.Future[_Spare]] = collections.deque()
        self._exits: dict[int, asyncio.Future[int | None]] = {}
        self._alive = True
        loop.add_reader(sock.fileno(), self._on_readable)

    @classmethod
    async def start(cls, key: ZygoteKey, env: Mapping[str, str], preload: str, python: Path) -> Zygote:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Once per worker and start-up variables: a thread hop would only risk orphaning it on cancel.
            process = subprocess.Popen(  # noqa: ASYNC220
                [str(python), str(_ZYGOTE_FILE), str(theirs.fileno()), preload],
                env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),), start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise WarmUnavailable(f"cannot start the warm Python interpreter: {exc}") from exc
        finally:
            theirs.close()
        ours.setblocking(False)
        zygote = cls(loop, key, process, ours)
        try:
            pid = await asyncio.wait_for(asyncio.shield(zygote._ready), _START_TIMEOUT)
        except (TimeoutError, ZygoteLost) as exc:
            zygote.close()
            raise WarmUnavailable(f"the warm Python interpreter did not start: {str(exc) or 'timed out'}") from exc
        except BaseException:
            zygote.close()
            raise
        log.info("python_zygote_started", pid=pid)
        return zygote

    @property
    def busy(self) -> bool:
        """Whether scripts it started are still running."""
        return bool(self._exits)

    @property
    def alive(self) -> bool:
        # poll(): a zygote killed between scripts is seen before its socket's end is read.
        return self._alive and not self.loop.is_closed() and self.process.poll() is None

    def _on_readable(self) -> None:
        while self._alive:
            try:
                data, fds, _, _ = socket.recv_fds(self._sock, 1 << 16, 1)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                for fd in fds:
                    os.close(fd)
                self._lost()
                return
            self._dispatch(json.loads(data), fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        if "spare" in message and fds:
            sock = socket.socket(fileno=fds[0])
            sock.setblocking(False)
            spare = _Spare(int(message["spare"]), sock)
            while self._spare_waiters:
                waiter = self._spare_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(spare)
                    return
            self._spares.append(spare)
            return
        for fd in fds:
            os.close(fd)
        if "ready" in message:
            if not self._ready.done():
                self._ready.set_result(int(message["ready"]))
        elif "code" in message:
            # A pid nobody waits for is a spare's that ended unused.
            ended = self._exits.pop(int(message["pid"]), None)
            if ended is not None and not ended.done():
                ended.set_result(int(message["code"]))

    def _lost(self, *, closing: bool = False) -> None:
        if not self._alive:
            return
        self._alive = False
        if not self.loop.is_closed():
            self.loop.remove_reader(self._sock.fileno())
        self._sock.close()
        lost = ZygoteLost(f"the warm Python interpreter (pid {self.process.pid}) died")
        if not self._ready.done():
            self._ready.set_exception(lost)
            self._ready.exception()  # retrieved: start() reports it
        for waiter in self._spare_waiters:
            if not waiter.done():
                waiter.set_exception(WarmUnavailable(f"{lost} before taking the script"))
        # A spare's socket closing is its signal to leave without running anything.
        for spare in self._spares:
            spare.sock.close()
        for exit_future in self._exits.values():
            if not exit_future.done():
                exit_future.set_result(None)
        self._spare_waiters.clear()
        self._spares.clear()
        self._exits.clear()
        self._reap()
        if closing:
            log.debug("python_zygote_stopped", pid=self.process.pid)
        else:
            log.warning("python_zygote_lost", pid=self.process.pid, exit_code=self.process.returncode)

    def _reap(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        # Killed or already gone: the wait is short.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def close(self) -> None:
        """Stop the zygote; scripts it already started run on, each in its own session."""
        self._lost(closing=True)

    async def _take_spare(self) -> _Spare:
        if not self.alive:
            # A spare of a dead zygote would run the script with nobody to report its end.
            self._lost()
            raise WarmUnavailable("the warm Python interpreter is not running")
        if self._spares:
            return self._spares.popleft()
        waiter: asyncio.Future[_Spare] = self.loop.create_future()
        self._spare_waiters.append(waiter)
        return await waiter

    async def spawn(self, path: Path, cwd: Path, env: Mapping[str, str], stdout: int, stderr: int) -> Child:
        """Hand ``path`` to a spare; returns once the spare said it runs it.

        Raises WarmUnavailable when no spare took it (nothing ran: run it elsewhere).
        """
        payload = json.dumps({"path": str(path), "cwd": str(cwd), "env": dict(env)}).encode()
        for _ in range(2):
            spare = await self._take_spare()
            # Registered before the hand-over: the exit report may come before the spare's answer.
            exit_future: asyncio.Future[int | None] = self.loop.create_future()
            self._exits[spare.pid] = exit_future
            try:
                started = await self._hand_over(spare, payload, [stdout, stderr])
            finally:
                spare.sock.close()
                # The zygote forks the next spare while this script runs.
                await self._send(b'{"next": true}')
            if started:
                return Child(spare.pid, exit_future)
            self._exits.pop(spare.pid, None)
            if not self.alive:
                self._lost()
                raise WarmUnavailable("the warm Python interpreter died before a spare took the script")
        raise WarmUnavailable("two spare interpreters in a row were gone before taking the script")

    async def _hand_over(self, spare: _Spare, payload: bytes, fds: list[int]) -> bool:
        """Whether the spare runs the script: False if it was gone or refused (its zygote died)."""
        try:
            # A fresh socket with nothing queued: one message up to its buffer never waits.
            socket.send_fds(spare.sock, [payload], fds)
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                # An environment past the socket buffer: the spare leaves unused.
                raise WarmUnavailable(f"cannot send the script to the warm interpreter: {exc}") from exc
            return False  # killed while waiting (from outside): nothing ran
        # The script runs already: this answer is awaited alongside it, not before it.
        try:
            answer = await self.loop.sock_recv(spare.sock, 64)
        except OSError:
            return False
        return bool(answer) and json.loads(answer).get("started") is True

    async def _send(self, payload: bytes) -> None:
        while self._alive:
            try:
                self._sock.send(payload)
                return
            except BlockingIOError:
                writable: asyncio.Future[None] = self.loop.create_future()
                self.loop.add_writer(self._sock.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    self.loop.remove_writer(self._sock.fileno())
            except OSError:
                self._lost()


class WarmPool:
    """The zygotes of this worker, one per set of start-up variables, started on first use."""

    def __init__(self) -> None:
        self._registered = False
        self._zygotes: dict[ZygoteKey, Zygote] = {}
        self._starting: dict[ZygoteKey, asyncio.Future[Zygote]] = {}

    async def zygote(self, env: Mapping[str, str], preload: str | None = None,
                     python: Path | None = None) -> Zygote:
        """The zygote of ``python`` (default: the worker's own) for ``env``'s start-up variables and
        ``preload`` (default: as ``PRELOAD_ENV`` says)."""
        modules = env.get(PRELOAD_ENV, DEFAULT_PRELOAD) if preload is None else preload
        interpreter = python or Path(sys.executable)
        key = (str(interpreter), startup_key({k: v for k, v in env.items() if k != PRELOAD_ENV}), modules)
        loop = asyncio.get_running_loop()
        current = self._zygotes.get(key)
        if current is not None and current.alive and current.loop is loop:
            return current
        if current is not None:
            current.close()
            del self._zygotes[key]
        pending = self._starting.get(key)
        if pending is None or pending.get_loop() is not loop:
            # Concurrent first scripts share one start.
            pending = asyncio.ensure_future(Zygote.start(key, env, modules, interpreter))
            self._starting[key] = pending
        try:
            zygote = await asyncio.shield(pending)
        finally:
            if pending.done() and self._starting.get(key) is pending:
                del self._starting[key]
        if not self._registered:
            # Zygotes leave with the worker: at exit, and on their own when its socket closes.
            atexit.register(self.close)
            self._registered = True
        if self._zygotes.get(key) is not zygote:
            self._evict()
            self._zygotes[key] = zygote
        return zygote

    def _evict(self) -> None:
        # Only idle ones: closing a zygote fails the scripts it runs. All busy, the pool grows past the cap.
        idle = [key for key, zygote in self._zygotes.items() if not zygote.busy]
        for key in idle[:max(0, len(self._zygotes) - _MAX_ZYGOTES + 1)]:
            self._zygotes.pop(key).close()

    def close(self) -> None:
        """Stop every zygote (at worker shutdown)."""
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()

    def pids(self) -> list[int]:
        """Pids of the live zygotes."""
        return [z.process.pid for z in self._zygotes.values() if z.alive]


POOL = WarmPool()


async def run_warm(path: Path, *, cwd: Path, env: Mapping[str, str], on_line: LineHandler,
                   kill_grace: float = 2.0, pool: WarmPool = POOL, preload: str | None = None,
                   python: Path | None = None) -> int:
    """Run the Python file ``path`` in a child of a warm ``python`` (default: the worker's own); returns
    its exit code.

    ``preload``: the modules its zygote imports once (see ``preload_for``); None: as ``PRELOAD_ENV`` says.

    Raises WarmUnavailable before anything ran (run it cold), ZygoteLost if the zygote died meanwhile.
    """
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    spawn = asyncio.ensure_future(_spawn(pool, path, cwd, env, out_write, err_write, preload, python))
    try:
        child = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # The child may start after all: end its group once it does, as the cold path does.
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
    log.debug("warm_script_started", pid=child.pid, path=str(path))
    transports: list[asyncio.BaseTransport] = []
    pumps: asyncio.Future[tuple[None, None]] | None = None
    try:
        stdout, out_transport = await reader_of(out_read)
        transports.append(out_transport)
        stderr, err_transport = await reader_of(err_read)
        transports.append(err_transport)
        pumps = asyncio.gather(pump_lines(stdout, False, on_line), pump_lines(stderr, True, on_line))
        code = await asyncio.shield(child.exit)
        # Children left running (or a script orphaned by its zygote) would outlive the task.
        if code is None or group_alive(child.pid):
            await _end(child, kill_grace)
        await pumps
    except BaseException:
        await asyncio.shield(_cleanup(child, pumps, kill_grace))
        raise
    finally:
        for transport in transports:
            transport.close()
    if code is None:
        raise ZygoteLost(f"the warm Python interpreter died while the script ran (pid {child.pid}); the "
                         "script's processes were ended")
    log.debug("warm_script_exited", pid=child.pid, exit_code=code)
    return code


async def _spawn(pool: WarmPool, path: Path, cwd: Path, env: Mapping[str, str], stdout: int,
                 stderr: int, preload: str | None, python: Path | None) -> Child:
    zygote = await pool.zygote(env, preload, python)
    try:
        return await zygote.spawn(path, cwd, env, stdout, stderr)
    except WarmUnavailable:
        if zygote.alive:
            raise
    # Found dead on the way (killed between scripts, nothing sent): one fresh start.
    zygote = await pool.zygote(env, preload, python)
    return await zygote.spawn(path, cwd, env, stdout, stderr)


async def _end(child: Child, grace: float) -> None:
    await end_group(child.pid, grace, leader_done=child.exit.done, wait_leader=lambda: asyncio.shield(child.exit))


async def _end_spawned(spawn: asyncio.Future[Child], grace: float) -> None:
    await _end(await spawn, grace)


async def _cleanup(child: Child, pumps: asyncio.Future[tuple[None, None]] | None, grace: float) -> None:
    await _end(child, grace)
    if pumps is not None:
        pumps.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumps
