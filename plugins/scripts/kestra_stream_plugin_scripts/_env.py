"""Python environments of their own for script tasks, built with ``uv`` and cached.

A Python script task runs in a virtual environment on the machine's interpreter (``_interpreters``)
whose site-packages hold Kestra's helper (the ``kestra`` package, with what it needs) and the
task's ``dependencies``: never the orchestrator's packages. One environment per (interpreter,
requirement set), built once under the cache folder (``KESTRA_STREAM_PYTHON_ENV_CACHE``, default
``~/.cache/kestra-stream/python-envs``), then shared by every task asking for the same set.

Concurrent builds of one key are safe (``_cache.build_once``: a lock, a staging folder renamed into place).

A task whose commands name ``pip`` (``pip install ...`` in ``beforeCommands``) may install
packages: it gets a writable environment of its own, seeded with pip and layered on the cached one
(a ``.pth`` line), removed after the attempt, so the cache and the orchestrator stay unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin

from kestra_stream.models.task import LogLevel
from kestra_stream_plugin_scripts._cache import TaskLog, Tool, build_once
from kestra_stream_plugin_scripts._interpreters import Interpreter, machine_environ

CACHE_ENV = "KESTRA_STREAM_PYTHON_ENV_CACHE"
HELPER = "kestra"
"""Kestra's Python helper (``from kestra import Kestra``), in every environment."""
# uv reads its own variables, not pip's: a worker configured for pip keeps its index and wheels.
_PIP_TO_UV = {"PIP_INDEX_URL": "UV_INDEX_URL", "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
              "PIP_FIND_LINKS": "UV_FIND_LINKS"}


def cache_root() -> Path:
    return _cache_root(os.environ.get(CACHE_ENV), os.environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _cache_root(configured: str | None, home: str | None) -> Path:
    # Every task asks: the path is derived once per value of the variables it comes from.
    return Path(configured) if configured else Path(home or Path.home()) / ".cache" / "kestra-stream" / "python-envs"


@dataclass(frozen=True)
class PythonEnvironment:
    """A virtual environment a script runs in."""

    root: Path
    interpreter: Interpreter

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def site_packages(self) -> Path:
        return self.root / "lib" / f"python{self.interpreter.short_version}" / "site-packages"


def requirement_set(requirements: Sequence[str]) -> list[str]:
    """What an environment holds: the helper plus the task's requirements; order and repeats do not matter."""
    return sorted({HELPER, *requirements})


def environment_key(interpreter: Interpreter, requirements: Sequence[str]) -> str:
    """The cache folder's name for ``requirements`` on ``interpreter``."""
    return _identity(interpreter, tuple(requirements))[0]


@functools.lru_cache(maxsize=256)
def _identity(interpreter: Interpreter, requirements: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    # Pure, and asked by every task: (cache folder name, requirement set) computed once per pair. What
    # is on disk is never memoized here: the folder may be removed behind the worker's back.
    wanted = tuple(requirement_set(requirements))
    ident = {"python": [str(interpreter.executable), interpreter.full_version], "requirements": list(wanted)}
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32], wanted


class _Builder:
    """Runs uv for one task (``Tool``)."""

    def __init__(self, log: TaskLog) -> None:
        env = machine_environ()
        for pip_name, uv_name in _PIP_TO_UV.items():
            if pip_name in env and uv_name not in env:
                env[uv_name] = env[pip_name]
        env["UV_PYTHON_DOWNLOADS"] = "never"  # the machine's interpreters only (Kestra's Process rule)
        env["UV_NO_PROGRESS"] = "1"
        self.tool = Tool(log, env, "uv")

    async def uv(self, *args: str, what: str) -> None:
        await self.tool.run([find_uv_bin(), *args], what=what, fix="fix or pin the requirements")

    async def build(self, target: Path, interpreter: Interpreter, requirements: Sequence[str], *,
                    seed: bool = False) -> PythonEnvironment:
        environment = PythonEnvironment(target, interpreter)
        await self.uv("venv", "--quiet", "--relocatable", *(["--seed"] if seed else []),
                      "--python", str(interpreter.executable), str(target),
                      what=f"create a virtual environment on Python {interpreter.full_version}")
        if requirements:
            await self.uv("pip", "install", "--quiet", "--python", str(environment.python), *requirements,
                          what=f"install the dependencies {list(requirements)}")
        return environment


async def cached_environment(log: TaskLog, interpreter: Interpreter, requirements: Sequence[str],
                             root: Path | None = None) -> PythonEnvironment:
    """The cached environment for ``requirements`` on ``interpreter``, built first if no complete one exists."""
    root = root or cache_root()
    key, wanted = _identity(interpreter, tuple(requirements))
    target = root / key
    described = f"{list(wanted)} on Python {interpreter.full_version}"

    def reused() -> None:
        if requirements:  # the base environment is every plain script's: no line for each of them
            log(LogLevel.DEBUG, f"Python environment {described} reused from cache {target}")

    async def build(staging: Path) -> None:
        await _Builder(log).build(staging, interpreter, wanted)

    await build_once(root, key, build, reused,
                     lambda: log(LogLevel.INFO, f"Building the Python environment {described} in {target}"))
    return PythonEnvironment(target, interpreter)


async def private_environment(log: TaskLog, interpreter: Interpreter, requirements: Sequence[str],
                              scratch: Path) -> PythonEnvironment:
    """An environment built for one attempt only (``dependencyCacheEnabled: false``), inside ``scratch``."""
    wanted = requirement_set(requirements)
    log(LogLevel.INFO, f"Building a Python environment {wanted} on Python {interpreter.full_version} "
                           "for this attempt only (dependencyCacheEnabled is false)")
    return await _Builder(log).build(scratch / "env", interpreter, wanted)


async def writable_environment(log: TaskLog, base: PythonEnvironment, scratch: Path) -> PythonEnvironment:
    """A pip-seeded environment of its own in ``scratch``, seeing ``base``'s packages after its own."""
    layered = await _Builder(log).build(scratch / "writable", base.interpreter, [], seed=True)
    await asyncio.to_thread((layered.site_packages / "_kestra_stream_base.pth").write_text,
                            f"{base.site_packages}\n", encoding="utf-8")
    return layered
