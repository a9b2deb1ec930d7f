"""The child's side of supervision: die with the supervisor, tell it when ready.

The supervisor names itself in ``KESTRA_STREAM_SUPERVISOR_PID``. A child then asks the kernel for
SIGTERM when its parent dies (``PR_SET_PDEATHSIG``): it holds even when the child's event loop is
busy or blocked (a pipe watched by the child would need that loop to answer), costs no thread, and
SIGTERM lets the component stop as on a Ctrl-C (offsets committed, consumers leave their groups).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

import click
import structlog

ENV_PARENT = "KESTRA_STREAM_SUPERVISOR_PID"
READY_KEY = "kestra_stream_ready"
_PR_SET_PDEATHSIG = 1

log = structlog.get_logger(__name__)
_state = {"supervised": False}


def adopt_supervision() -> None:
    """Called once at the start of every command: under a supervisor, die with it."""
    # Popped: a process this child starts (a task's script) is not supervised by anyone.
    parent = os.environ.pop(ENV_PARENT, None)
    if parent is None:
        return
    _state["supervised"] = True
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("parent_death_signal_unavailable", errno=ctypes.get_errno())
    if os.getppid() != int(parent):  # the supervisor died before the request above: no signal will come
        raise SystemExit(f"the supervisor (pid {parent}) is gone")


def supervised() -> bool:
    return _state["supervised"]


def announce_ready(banner: str, *, err: bool = True) -> None:
    """The component runs: its banner for a user, or the ready line its supervisor waits for."""
    if supervised():
        sys.stdout.write(json.dumps({READY_KEY: banner}) + "\n")
        sys.stdout.flush()
    else:
        click.echo(banner, err=err)
