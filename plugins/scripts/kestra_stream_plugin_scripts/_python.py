"""Python script tasks: ``io.kestra.plugin.scripts.python.Script`` and ``...python.Commands``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import field_validator

from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import RunContext, not_implemented
from kestra_stream_plugin_scripts._base import AbstractExecScript, Launch
from kestra_stream_plugin_scripts._env import (
    PythonEnvironment,
    cached_environment,
    private_environment,
    writable_environment,
)
from kestra_stream_plugin_scripts._interpreters import INTERPRETERS, Interpreter, machine_path
from kestra_stream_plugin_scripts._warm import preload_for

# Pebble renders booleans and null the JSON way; these names let `x = {{ flag }}` run (as Kestra does).
PRELUDE = "true, false, null = True, False, None\n"
_WRITE_IN_THREAD_ABOVE = 64 * 1024
# Commands that may install packages get a writable environment of their own (see _env).
_NAMES_PIP = re.compile(r"\bpip3?\b")


class _PythonExec(AbstractExecScript):
    default_container_image: ClassVar[str] = "python:3.13-slim"

    dependencies: list[str] | None = None
    dependency_cache_enabled: bool = True
    python_version: str | None = None
    package_manager: Literal["PIP", "UV"] | None = None

    @field_validator("package_manager")
    @classmethod
    def _uv_only(cls, value: str | None) -> str | None:
        if value == "PIP":
            raise ValueError(not_implemented("packageManager: PIP", "dependencies are installed with uv (Kestra's "
                                                                    "default); use UV or remove the property"))
        return value

    async def _interpreter(self, ctx: RunContext, path: str) -> Interpreter:
        wanted = ctx.render_string(self.python_version) if self.python_version else None
        known = INTERPRETERS.cached(path, wanted)
        return known if known is not None else await asyncio.to_thread(INTERPRETERS.select, path, wanted)

    def _may_install(self) -> bool:
        # In a container, pip installs into the container: nothing to layer on this machine.
        commands = json.dumps([self.before_commands, getattr(self, "commands", None)])
        return self.runs_on_process() and bool(_NAMES_PIP.search(commands))

    async def environment(self, ctx: RunContext) -> tuple[PythonEnvironment, dict[str, str], Path | None]:
        """The environment the task runs in, the variables that put it first, and a scratch folder
        to remove after the attempt (None when the task only uses the cache)."""
        path = machine_path(os.environ.get("PATH", os.defpath))
        interpreter = await self._interpreter(ctx, path)
        requirements = [str(r) for r in ctx.render(list(self.dependencies))] if self.dependencies else []
        scratch: Path | None = None
        try:
            if self.dependency_cache_enabled:
                environment = await cached_environment(ctx.log, interpreter, requirements)
            else:
                scratch = Path(tempfile.mkdtemp(prefix="kestra-stream-pyenv-"))
                environment = await private_environment(ctx.log, interpreter, requirements, scratch)
            if self._may_install():
                scratch = scratch or Path(tempfile.mkdtemp(prefix="kestra-stream-pyenv-"))
                environment = await writable_environment(ctx.log, environment, scratch)
        except BaseException:
            if scratch is not None:
                await asyncio.to_thread(shutil.rmtree, scratch, True)
            raise
        env = {
            "PYTHONUNBUFFERED": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "VIRTUAL_ENV": str(environment.root),
            "PATH": os.pathsep.join([str(environment.bin), path]),
        }
        return environment, env, scratch


class Script(_PythonExec):
    """Run a Python script, written to a file of the working directory."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.python.Script",
        short="python.Script",
        title="Run a Python script in an environment of its own on the machine's Python (Process task runner).",
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
        environment, env, scratch = await self.environment(ctx)
        # `python` by name: a venv activated in beforeCommands overrides it, as on Kestra.
        return Launch(commands=[f"python {shlex.quote(str(path))}"], env=env, warm_script=path,
                      warm_python=environment.python, warm_preload=preload_for(source), scratch=scratch)


class Commands(_PythonExec):
    """Run shell commands with the task's Python environment first on PATH (``python main.py``)."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.python.Commands",
        short="python.Commands",
        title="Run commands that call Python scripts (Process task runner).",
        examples=("inputFiles:\n  main.py: print('hi')\ncommands:\n  - python main.py",),
    )

    commands: list[str] | str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        commands = self.render_list(ctx, self.commands, runner_vars, "commands")
        _, env, scratch = await self.environment(ctx)
        return Launch(commands=commands, env=env, scratch=scratch)
