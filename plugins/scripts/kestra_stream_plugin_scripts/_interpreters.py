"""The machine's Python interpreters, as the Process runner sees them: never the orchestrator's own.

Kestra's Process runner runs a script with the ``python`` of the machine. Here the orchestrator
itself usually runs from a virtual environment whose ``bin`` may be on ``PATH``; that folder (and
``PYTHONPATH`` / ``PYTHONHOME`` / ``VIRTUAL_ENV`` inherited from the orchestrator) are left out
of what a script task sees, so only the machine's interpreters remain.

Installed interpreters are the ``python3`` / ``python3.N`` executables on that ``PATH`` plus
pyenv's versions (``$PYENV_ROOT/versions/*``). Each is asked for its version once per process.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kestra_stream.errors import TaskFailure

# Inherited from the orchestrator, these would put its packages (or its prefix) under a script.
_ORCHESTRATOR_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONEXECUTABLE")
_NAME = re.compile(r"python3(\.\d+)?")
_PROBE = "import json, sys; print(json.dumps([list(sys.version_info[:3]), sys.executable]))"
_PROBE_TIMEOUT = 30.0


@dataclass(frozen=True, order=True)
class Interpreter:
    """An installed interpreter: its version and its real executable (a pyenv shim resolved)."""

    version: tuple[int, int, int]
    executable: Path

    @property
    def short_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def full_version(self) -> str:
        return ".".join(map(str, self.version))


def orchestrator_bin() -> Path | None:
    """The ``bin`` folder of the orchestrator's virtual environment, None when it runs on a plain interpreter."""
    if sys.prefix == sys.base_prefix:
        return None
    return Path(sys.executable).parent


@functools.lru_cache(maxsize=64)
def machine_path(path: str) -> str:
    """``path`` without the orchestrator's virtual environment ``bin`` folder (every task asks: cached)."""
    own = orchestrator_bin()
    if own is None:
        return path
    own_real = os.path.realpath(own)
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and os.path.realpath(p) != own_real)


def machine_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment as a script task inherits it: the orchestrator's Python left out."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if k not in _ORCHESTRATOR_VARIABLES}
    env["PATH"] = machine_path(env.get("PATH", os.defpath))
    return env


def _probe(executable: str) -> Interpreter | None:
    try:
        done = subprocess.run([executable, "-I", "-c", _PROBE], capture_output=True, timeout=_PROBE_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            return None  # e.g. a pyenv shim of a version that is not active
        version, real = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return Interpreter((int(version[0]), int(version[1]), int(version[2])), Path(real))


def _candidates(path: str) -> list[str]:
    found: list[str] = []
    for folder in path.split(os.pathsep):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found += [os.path.join(folder, n) for n in names if _NAME.fullmatch(n)]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        found += [str(p) for p in sorted(pyenv.glob("*/bin/python3")) if p.is_file()]
    return found


def _matches(interpreter: Interpreter, wanted: str) -> bool:
    return f"{interpreter.full_version}.".startswith(f"{wanted}.")


class Interpreters:
    """What this process learnt about the machine's interpreters (each asked for its version once)."""

    def __init__(self) -> None:
        self._default: dict[str, Interpreter] = {}
        self._installed: dict[str, list[Interpreter]] = {}

    def default(self, path: str) -> Interpreter:
        """The machine's ``python3`` (or ``python``) first on ``path``, as the Process runner finds it."""
        known = self._default.get(path)
        if known is not None:
            return known
        for name in ("python3", "python"):
            for folder in path.split(os.pathsep):
                candidate = os.path.join(folder, name)
                if folder and os.access(candidate, os.X_OK) and (found := _probe(candidate)) is not None:
                    self._default[path] = found
                    return found
        raise TaskFailure("no Python interpreter on the worker's PATH (without the orchestrator's own "
                          f"virtual environment): install python3 on the worker; PATH={path}")

    def installed(self, path: str, *, refresh: bool = False) -> list[Interpreter]:
        """Every interpreter found, one per real executable, newest version first."""
        if refresh or path not in self._installed:
            with ThreadPoolExecutor(max_workers=4) as pool:
                probed = pool.map(_probe, _candidates(path))
            unique = {i.executable: i for i in probed if i is not None}
            self._installed[path] = sorted(unique.values(), reverse=True)
        return self._installed[path]

    def cached(self, path: str, wanted: str | None) -> Interpreter | None:
        """The machine's default when already known and wanted: no process, no thread hop (every task asks)."""
        known = self._default.get(path)
        if known is None or (wanted and not _matches(known, wanted.strip())):
            return None
        return known

    def select(self, path: str, wanted: str | None) -> Interpreter:
        """The interpreter for Kestra's ``pythonVersion`` (``3.12`` or ``3.12.1``); the machine's default
        when it is not set or matches. Refuses a version that is not installed, naming those that are."""
        default = self.default(path)
        if wanted is None or not wanted.strip():
            return default
        wanted = wanted.strip()
        if not re.fullmatch(r"3(\.\d+){1,2}", wanted):
            raise TaskFailure(f"pythonVersion {wanted!r} is not a Python version: write it like 3.12 or 3.12.1")

        if _matches(default, wanted):
            return default
        for refresh in (False, True):  # installed since this worker first looked
            found = [i for i in self.installed(path, refresh=refresh) if _matches(i, wanted)]
            if found:
                return found[0]
        names = ", ".join(sorted({i.full_version for i in self.installed(path)}, reverse=True)) or "none"
        raise TaskFailure(f"pythonVersion {wanted} is not installed on this worker; installed: {names} "
                          "(set pythonVersion to one of them, or install that version on the worker)")


INTERPRETERS = Interpreters()
