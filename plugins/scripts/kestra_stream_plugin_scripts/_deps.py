"""Python ``dependencies``: pip-installed once per requirement set into a cached folder put on PYTHONPATH."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import sys
from collections import deque
from pathlib import Path

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import LogLevel, RunContext
from kestra_stream_plugin_scripts._process import run_process

CACHE_ENV = "KESTRA_STREAM_PYTHON_DEPS_CACHE"
_DONE = ".kestra-stream-complete"


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "kestra-stream" / "python-deps"


def requirements_key(requirements: list[str]) -> str:
    """One folder per requirement set and interpreter version: order and repeats do not matter."""
    ident = {"python": list(sys.version_info[:2]), "requirements": sorted(set(requirements))}
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


async def ensure_dependencies(ctx: RunContext, requirements: list[str], root: Path | None = None,
                              *, use_cache: bool = True) -> Path:
    """The folder holding ``requirements``, installing them first unless a complete copy exists."""
    root = root or cache_root()
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    target = root / requirements_key(requirements)
    if use_cache and await asyncio.to_thread((target / _DONE).is_file):
        ctx.log(LogLevel.DEBUG, f"Python dependencies {requirements} found in cache {target}")
        return target
    # Installing into a private folder, then renaming it, keeps concurrent tasks from seeing half
    # an install; the loser of a race drops its copy.
    staging = root / f".staging-{secrets.token_hex(8)}"
    tail: deque[str] = deque(maxlen=20)

    def on_line(line: str, is_stderr: bool) -> None:
        tail.append(line)
        ctx.log(LogLevel.WARN if is_stderr else LogLevel.DEBUG, line)

    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore", PIP_NO_INPUT="1")
    args = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(staging), *requirements]
    ctx.log(LogLevel.INFO, f"Installing Python dependencies {requirements}")
    try:
        code = await run_process(args, cwd=root, env=env, on_line=on_line)
        if code != 0:
            detail = "\n".join(tail)
            raise TaskFailure(f"pip could not install the dependencies {requirements} (exit code {code}); "
                              f"fix or pin the requirements:\n{detail}")
        await asyncio.to_thread((staging / _DONE).touch)
        if not use_cache:
            return staging
        try:
            await asyncio.to_thread(os.replace, staging, target)
        except OSError:
            if not (target / _DONE).is_file():
                await asyncio.to_thread(shutil.rmtree, target, True)
                await asyncio.to_thread(os.replace, staging, target)
    finally:
        if use_cache or not (staging / _DONE).is_file():
            await asyncio.to_thread(shutil.rmtree, staging, True)
    return target
