"""Shell script tasks: ``io.kestra.plugin.scripts.shell.Script`` and ``...shell.Commands``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import RunContext
from kestra_stream_plugin_scripts._base import AbstractExecScript, Launch


class Script(AbstractExecScript):
    """Run a shell script through the interpreter (``/bin/sh -c`` by default)."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.shell.Script",
        short="shell.Script",
        title="Run a shell script (Process task runner).",
        examples=("script: |\n  echo \"running {{ task.id }}\"",),
    )

    script: str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        return Launch(commands=[ctx.render_string(self.runner_text(self.script, runner_vars))])


class Commands(AbstractExecScript):
    """Run shell commands one after the other, stopping at the first failure unless failFast is false."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.shell.Commands",
        short="shell.Commands",
        title="Run shell commands (Process task runner).",
        examples=("commands:\n  - echo '::{\"outputs\":{\"n\":3}}::'",),
    )

    commands: list[str] | str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        return Launch(commands=self.render_list(ctx, self.commands, runner_vars, "commands"))
