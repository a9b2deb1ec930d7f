"""The warm Python interpreter ("zygote"): run as ``python _zygote.py FD`` by the worker, never imported.

It imports only the standard library and never runs user code itself, so its state stays as it was
at start. For each request read from the SOCK_SEQPACKET socket ``FD`` (a JSON object and, as
SCM_RIGHTS, the write ends of the stdout and stderr pipes) it forks a child that starts a new
session, moves to the working directory, takes the request's environment and runs the script as
``__main__``; the child then ends like ``python script.py`` would (non-daemon threads joined, atexit
handlers run, SystemExit codes kept). Modules named on the command line (Kestra's helper) are
imported once by the zygote, so every child has them for free. The zygote reaps its children and
reports every exit status.

Messages to the worker, one JSON object per packet:
``{"ready": pid}`` once; ``{"id": n, "received": true}`` before a fork and ``{"id": n, "pid": pid}``
after it; ``{"id": n, "error": text}`` when a request could not start; ``{"pid": pid, "code": code}``
when a child ended (negative: a signal).
It exits when the worker closes its end of the socket.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import pkgutil  # noqa: F401 - runpy.run_path imports it on first use: once here, not in every child
import runpy
import select
import signal
import socket
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType

MAX_REQUEST = 4 << 20


@dataclass
class Request:
    """What a forked child runs."""

    path: str
    cwd: str
    env: dict[str, str]
    stdout: int
    stderr: int


def _send(sock: socket.socket, message: dict[str, object]) -> None:
    sock.send(json.dumps(message).encode())


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _start(sock: socket.socket, message: bytes, fds: list[int]) -> Request | None:
    """Fork a child for one request; returns the request in the child, None in the zygote."""
    request_id: object = None
    try:
        raw = json.loads(message)
        request_id = raw["id"]
        if len(fds) != 2:
            raise ValueError(f"expected 2 file descriptors (stdout, stderr), got {len(fds)}")
        request = Request(path=str(raw["path"]), cwd=str(raw["cwd"]),
                          env={str(k): str(v) for k, v in raw["env"].items()}, stdout=fds[0], stderr=fds[1])
        # Before the fork: a worker that saw no "received" knows the script did not start.
        _send(sock, {"id": request_id, "received": True})
        pid = os.fork()
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        for fd in fds:
            os.close(fd)
        _send(sock, {"id": request_id, "error": f"{type(exc).__name__}: {exc}"})
        return None
    if pid == 0:
        return request
    for fd in fds:
        os.close(fd)
    _send(sock, {"id": request_id, "pid": pid})
    return None


def serve(sock: socket.socket) -> Request | None:
    """Serve requests until the worker goes away (returns None); in a forked child, returns its request."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    # A Python-level handler plus the wakeup fd turns SIGCHLD into a readable pipe for poll().
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    _send(sock, {"ready": os.getpid()})
    try:
        while True:
            for fd, _ in poller.poll():
                if fd == wake_read:
                    while True:
                        try:
                            if not os.read(wake_read, 512):
                                break
                        except BlockingIOError:
                            break
                    _reap(sock)
                    continue
                message, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 2)
                if not message:
                    return None
                request = _start(sock, message, fds)
                if request is not None:
                    # The child keeps nothing of the zygote's plumbing.
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    os.close(wake_read)
                    os.close(wake_write)
                    sock.close()
                    return request
    finally:
        # In the zygote only: in a child these were closed above and the finally is a no-op.
        if sock.fileno() != -1:
            signal.set_wakeup_fd(-1)
            os.close(wake_read)
            os.close(wake_write)


def _script_traceback(tb: TracebackType | None, path: str) -> TracebackType | None:
    # Frames of runpy and of this file are noise: start at the script's first frame, as `python script.py` does.
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename != path:
        first = first.tb_next
    return first or tb


def run_child(request: Request) -> int:
    """Become the script's process, run it as ``__main__``, and end as the interpreter would."""
    os.setsid()
    os.dup2(request.stdout, 1)
    os.dup2(request.stderr, 2)
    os.close(request.stdout)
    os.close(request.stderr)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    sys.argv = [request.path]
    sys.path[0] = os.path.dirname(request.path)
    try:
        runpy.run_path(request.path, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, _script_traceback(exc.__traceback__, request.path))
        code = 1
    return _finish(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _finish(code: int) -> int:
    """What interpreter shutdown does that a script can see: join non-daemon threads, run atexit
    callbacks, flush stdio. The rest of a full finalization (tearing down every module) costs
    15-30 ms in a forked child and is skipped: the caller leaves with os._exit."""
    threading = sys.modules.get("threading")
    if threading is not None:
        main_thread = threading.main_thread()
        while pending := [t for t in threading.enumerate() if t is not main_thread and not t.daemon]:
            for thread in pending:
                thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return 120
    if code == -signal.SIGINT:
        # As CPython does after a KeyboardInterrupt: die of the signal itself.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def preload(names: str) -> None:
    """Import modules every child would import (Kestra's helper): each fork gets them for free."""
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:
            # An absent or broken optional module only costs each script its own import.
            print(f"kestra-stream zygote: cannot preload {name!r}: {exc}", file=sys.stderr)


def main(argv: list[str]) -> None:
    if len(argv) != 3 or not argv[1].isdigit():
        raise SystemExit("usage: python _zygote.py SOCKET_FD PRELOAD_MODULES (started by the kestra-stream worker)")
    preload(argv[2])
    # Everything alive now lives as long as the zygote: out of the collector's reach, a child's
    # collections never walk (and so never copy) the pages it shares with the zygote.
    gc.freeze()
    sock = socket.socket(fileno=int(argv[1]))
    sock.setblocking(True)
    request = serve(sock)
    if request is None:
        sock.close()
        return
    os._exit(run_child(request))


if __name__ == "__main__":
    main(sys.argv)
