"""Pid files that a test's child processes write, read only once written.

A shell's ``echo $$ > file`` creates the file before it writes the number: a test that reads
as soon as the file exists may read it empty. The write itself is one small ``write()``, which
readers on Linux see whole or not at all.
"""

from __future__ import annotations

from pathlib import Path


def written_pid(path: Path) -> int | None:
    """The pid written to ``path``, or None while the file is missing or still empty."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def written_pids(*paths: Path) -> list[int] | None:
    """Every pid of ``paths`` once all of them are written, else None."""
    pids = [written_pid(path) for path in paths]
    return None if None in pids else [pid for pid in pids if pid is not None]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, left unreaped by a container's init) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
