"""The warm Python interpreter ("zygote"): run as ``python _zygote.py FD PRELOAD`` by the worker, never imported.

It imports only the standard library (and the modules named in PRELOAD, Kestra's helper) and never
runs user code itself, so its state stays as it was at start. It forks *spares*: children that
start a session of their own, rehearse what running a script costs the first time after a fork,
and wait on a socket of their own. The zygote passes each spare's socket to the worker (SCM_RIGHTS
over the SOCK_SEQPACKET socket ``FD``), and the worker hands a script to a spare directly: a JSON
object (path, working directory, environment) and, as SCM_RIGHTS, the write ends of the stdout and
stderr pipes. The spare answers ``{"started": true}`` (``false`` if its zygote is gone, as nobody
would then report the script's end), moves to the working directory, takes the request's
environment and runs the script as ``__main__``, then ends like ``python script.py`` would
(non-daemon threads joined, atexit handlers run, SystemExit codes kept). A spare whose socket
closes before a request came exits without running anything.

Forking, and the first compile and run after a fork (which copy a few hundred of the zygote's
memory pages), are then done while the previous script runs, not on the path of the next one.

Messages to the worker, one JSON object per packet: ``{"ready": pid}`` once; ``{"spare": pid}``
with the spare's socket attached, once at start and once for every ``{"next": true}`` the worker
sends; ``{"pid": pid, "code": code}`` when a child ended (negative: a signal). The zygote reaps
its children and reports every exit status. It exits when the worker closes its end of ``FD``.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import importlib
import importlib.machinery
import json
import os
import select
import signal
import socket
import sys
import traceback
import types
from dataclasses import dataclass
from types import TracebackType

MAX_REQUEST = 4 << 20
# Run by every spare before it waits: the same compile, exec, decode and environment calls as a
# real script's start, in a throw-away namespace.
_REHEARSAL = "import sys\n_ = [str(i) for i in range(16)]\n"


@dataclass
class Request:
    """What a spare runs."""

    path: str
    cwd: str
    env: dict[str, str]
    stdout: int
    stderr: int


def _send(sock: socket.socket, message: dict[str, object], fds: tuple[int, ...] = ()) -> None:
    socket.send_fds(sock, [json.dumps(message).encode()], list(fds))


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _fork_spare(sock: socket.socket) -> socket.socket | None:
    """Fork a spare and pass its socket to the worker; in the spare itself, return its own socket."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        ours.close()
        return theirs
    theirs.close()
    try:
        _send(sock, {"spare": pid}, (ours.fileno(),))
    finally:
        # The worker holds the only other end now: the spare sees it close if the worker goes.
        ours.close()
    return None


def serve(sock: socket.socket) -> socket.socket | None:
    """Serve the worker until it goes away (returns None); in a spare, returns the socket its request
    will come on."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    # A Python-level handler plus the wakeup fd turns SIGCHLD into a readable pipe for poll().
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    try:
        _send(sock, {"ready": os.getpid()})
        spare = _fork_spare(sock)
        if spare is not None:
            return spare
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
                message = sock.recv(MAX_REQUEST)
                if not message:
                    return None
                if json.loads(message).get("next"):
                    spare = _fork_spare(sock)
                    if spare is not None:
                        return spare
    finally:
        # In the zygote as it leaves, and in a spare as it leaves the zygote's loop: a spare keeps
        # nothing of the zygote's signal handling or wake pipe (its socket to the worker is closed by main).
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(wake_read)
        os.close(wake_write)


def _set_environ(env: dict[str, str]) -> None:
    # Only what differs: most of a task's environment is the worker's, which the zygote has already.
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _rehearse() -> None:
    """The first compile, exec and JSON decode after a fork each touch (and so copy) pages shared
    with the zygote: ~300 page faults and ~2 ms on the first script line, measured. Done here, ahead."""
    json.loads('{"path": "p", "cwd": "c", "env": {"K": "v"}}')
    _set_environ(dict(os.environ))
    exec(compile(_REHEARSAL, "<kestra-stream rehearsal>", "exec"), {"__name__": "__rehearsal__"})


def wait_as_spare(sock: socket.socket, zygote: int) -> Request | None:
    """In a spare: rehearse, then wait for the request to run; None if the worker closed the socket
    first, or if the zygote is gone (nobody would report the script's end: the worker runs it elsewhere)."""
    os.setsid()
    _rehearse()
    sock.setblocking(True)
    try:
        message, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 2)
        started = bool(message) and len(fds) == 2 and os.getppid() == zygote
        if message:
            # The worker waits for this answer, not the script: it is off the script's path.
            sock.send(b'{"started": true}' if started else b'{"started": false}')
    except OSError:
        return None
    finally:
        sock.close()
    if not started:
        for fd in fds:
            os.close(fd)
        return None
    raw = json.loads(message)
    return Request(path=str(raw["path"]), cwd=str(raw["cwd"]), env={str(k): str(v) for k, v in raw["env"].items()},
                   stdout=fds[0], stderr=fds[1])


def _script_traceback(tb: TracebackType | None, path: str) -> TracebackType | None:
    # Frames of this file are noise: start at the script's first frame, as `python script.py` does.
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename != path:
        first = first.tb_next
    return first or tb


def _main_module(path: str) -> types.ModuleType:
    """A ``__main__`` as ``python path`` makes it (pickling, ``sys.modules['__main__']`` see the script)."""
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None  # type: ignore[attr-defined]
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    return main


def run_child(request: Request) -> int:
    """Become the script's process, run it as ``__main__``, and end as the interpreter would."""
    os.dup2(request.stdout, 1)
    os.dup2(request.stderr, 2)
    os.close(request.stdout)
    os.close(request.stderr)
    os.chdir(request.cwd)
    _set_environ(request.env)
    sys.argv = [request.path]
    sys.path[0] = os.path.dirname(request.path)
    try:
        with open(request.path, "rb") as source:
            code = compile(source.read(), request.path, "exec")
        exec(code, _main_module(request.path).__dict__)
        status = 0
    except SystemExit as exc:
        status = _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        status = -signal.SIGINT
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, _script_traceback(exc.__traceback__, request.path))
        status = 1
    return _finish(status)


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
    spare = serve(sock)
    sock.close()
    if spare is None:
        return
    request = wait_as_spare(spare, zygote=os.getppid())
    os._exit(0 if request is None else run_child(request))


if __name__ == "__main__":
    main(sys.argv)
