"""Detached server processes: spawn, pid files, liveness, stop, readiness and tool runs.

A server is started in a session of its own through a short-lived Python helper, so it
outlives the command that started it, is never our zombie, and can be stopped as one
process group (Elasticsearch's launcher JVM and its server JVM together).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from kestra_stream.errors import BackendError

log = structlog.get_logger("kestra_stream.services")

Progress = Callable[[str], None]

# Runs in a fresh interpreter: start the server in a new session, print its pid, exit
# without waiting. The server is then re-parented to init, which reaps it.
_SPAWN_HELPER = """
import json, subprocess, sys
spec = json.loads(sys.stdin.read())
extra = {}
if spec["user"] is not None:
    extra = {"user": spec["user"], "group": spec["group"], "extra_groups": []}
with open(spec["log"], "ab") as out:
    proc = subprocess.Popen(spec["argv"], cwd=spec["cwd"], env=spec["env"], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **extra)
print(proc.pid)
"""


class ServiceError(BackendError):
    """A local service could not be installed, started, reached or stopped."""

    def __init__(self, service: str, message: str) -> None:
        self.service = service
        super().__init__(f"{service}: {message}")


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one server process."""

    argv: list[str]
    cwd: Path
    log_file: Path  # receives the process's stdout and stderr
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # run as this user (needs root)
    group: str | None = None


def spawn(spec: LaunchSpec) -> int:
    """Start ``spec`` detached in a new session and return its pid (also its process group)."""
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({
        "argv": spec.argv, "cwd": str(spec.cwd), "env": spec.env, "log": str(spec.log_file),
        "user": spec.user, "group": spec.group,
    })
    done = subprocess.run([sys.executable, "-c", _SPAWN_HELPER], input=payload, capture_output=True,
                          text=True, check=False, timeout=60)
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        raise BackendError(f"could not start {spec.argv[0]}: {done.stderr.strip() or done.stdout.strip()}")
    return int(done.stdout.strip())


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def pid_matches(pid: int, marker: str) -> bool:
    """True when ``pid`` is a live (non-zombie) process whose command line contains ``marker``.

    The marker (a path under the service's directory) guards against a recycled pid.
    """
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and marker in cmdline


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # after the command name: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, *, grace: float = 30.0) -> bool:
    """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL it. True if it had to be killed."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return False
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)
    for _ in range(50):
        if not group_members(pgid):
            break
        time.sleep(0.1)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        with path.open("r", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return f"({path} does not exist)"


def wait_ready(service: str, probe: Callable[[], bool], *, alive: Callable[[], bool], timeout: float,
               logs: Sequence[Path], interval: float = 0.5) -> float:
    """Poll ``probe`` until it answers True; return the seconds waited.

    Fails fast when the process dies, and after ``timeout`` seconds otherwise, with the tail
    of the service's logs in the message so the cause is visible without opening files.
    """
    started = time.monotonic()
    while True:
        if probe():
            return time.monotonic() - started
        if not alive():
            raise ServiceError(service, f"the process exited before it was ready.\n{_log_tails(logs)}")
        if time.monotonic() - started > timeout:
            raise ServiceError(service, f"not ready after {timeout:.0f} s (it is still running; "
                                        f"`kestra-stream services down {service}` stops it).\n"
                                        f"{_log_tails(logs)}")
        time.sleep(interval)


def _log_tails(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- last lines of {p} ---\n{tail(p)}" for p in logs if p.exists()) or \
        "(no log was written)"


def run_tool(service: str, argv: Sequence[str], *, progress: Progress, log_file: Path,
             cwd: Path | None = None, env: dict[str, str] | None = None,
             show: Callable[[str], str | None] = lambda line: line) -> None:
    """Run an installer (mvn, go) to completion, streaming its output to ``progress`` and a log.

    ``show`` turns an output line into what to show (None: nothing); every line goes to ``log_file``.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("services.tool", service=service, argv=list(argv))
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise ServiceError(service, f"`{argv[0]}` is not installed or not on PATH; install it "
                                        f"and retry") from exc
        assert proc.stdout is not None
        with proc:
            for line in proc.stdout:
                out.write(line)
                shown = show(line.rstrip()) if line.strip() else None
                if shown:
                    progress(shown)
        if proc.returncode != 0:
            out.flush()
            raise ServiceError(service, f"`{' '.join(argv[:3])} ...` failed with exit code "
                                        f"{proc.returncode}.\n--- last lines of {log_file} ---\n"
                                        f"{tail(log_file)}")


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Serialise concurrent ``up``/``down`` of one service (two shells, two test sessions)."""
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
