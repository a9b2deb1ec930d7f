"""Python script tasks: ``io.kestra.plugin.scripts.python.Script`` and ``...python.Commands``."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import field_validator

from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, RunContext, not_implemented
from kestra_stream_plugin_scripts._base import AbstractExecScript, Launch
from kestra_stream_plugin_scripts._deps import ensure_dependencies
from kestra_stream_plugin_scripts._warm import preload_for

# Pebble renders booleans and null the JSON way; these names let `x = {{ flag }}` run (as Kestra does).
PRELUDE = "true, false, null = True, False, None\n"
_WRITE_IN_THREAD_ABOVE = 64 * 1024


def python_command() -> str:
    """The worker's own interpreter, by a name that a venv activated in beforeCommands overrides."""
    bin_dir = Path(sys.executable).parent
    return "python" if (bin_dir / "python").exists() else shlex.quote(sys.executable)


class _PythonExec(AbstractExecScript):
    default_container_image: ClassVar[str] = "python:3.13-slim"

    dependencies: list[str] | None = None
    dependency_cache_enabled: bool = True
    python_version: str | None = None
    package_manager: Literal["PIP", "UV"] | None = None

    @field_validator("package_manager")
    @classmethod
    def _pip_only(cls, value: str | None) -> str | None:
        if value == "UV":
            raise ValueError(not_implemented("packageManager: UV", "dependencies are installed with pip; use PIP "
                                                                   "or remove the property"))
        return value

    async def python_env(self, ctx: RunContext) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        env = {
            "PYTHONUNBUFFERED": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        }
        wanted = self.python_version
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        if wanted and not f"{wanted}.".startswith(f"{running}."):
            ctx.log(LogLevel.WARN, f"pythonVersion {wanted} asked, but the Process runner uses the worker's "
                                   f"Python {running}")
        if self.dependencies:
            requirements = [str(r) for r in ctx.render(list(self.dependencies))]
            folder = await ensure_dependencies(ctx, requirements, use_cache=self.dependency_cache_enabled)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
        return env


class Script(_PythonExec):
    """Run a Python script, written to a file of the working directory."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.python.Script",
        short="python.Script",
        title="Run a Python script on the worker's Python (Process task runner).",
        examples=("script: |\n  from kestra import Kestra\n  Kestra.outputs({'n': 1})",),
    )

    script: str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        source = PRELUDE + ctx.render_string(self.runner_text(self.script, runner_vars))
        path = workdir / f"{secrets.token_hex(8)}.py"
        if len(source) > _WRITE_IN_THREAD_ABOVE:
            await asyncio.to_thread(path.write_text, source, encoding="utf-8")
        else:
            # A page or two: writing it costs less than the hop to a thread and back (~0.07 against ~0.3 ms).
            path.write_text(source, encoding="utf-8")
        command = f"{python_command()} {shlex.quote(str(path))}"
        # With dependencies the cold path's PYTHONPATH is per task; the warm path is for plain scripts.
        warm = None if self.dependencies else path
        return Launch(commands=[command], env=await self.python_env(ctx), warm_script=warm,
                      warm_preload=preload_for(source))


class Commands(_PythonExec):
    """Run shell commands with the worker's Python first on PATH (``python main.py``)."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.python.Commands",
        short="python.Commands",
        title="Run commands that call Python scripts (Process task runner).",
        examples=("inputFiles:\n  main.py: print('hi')\ncommands:\n  - python main.py",),
    )

    commands: list[str] | str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        commands = self.render_list(ctx, self.commands, runner_vars, "commands")
        return Launch(commands=commands, env=await self.python_env(ctx))
