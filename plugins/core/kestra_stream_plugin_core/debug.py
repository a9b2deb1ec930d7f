"""``debug.Return`` (an output from a template) and the deprecated ``debug.Echo``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream_plugin_core.log import _parse_level


class Return(RunnableTask):
    """Render a template and return it as the ``value`` output."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.debug.Return",
        short="debug.Return",
        aliases=("io.kestra.core.tasks.debugs.Return",),
        title="Render a template and return it as the `value` output.",
        examples=(
            """\
id: compute
namespace: company.team
tasks:
  - id: return
    type: io.kestra.plugin.core.debug.Return
    format: "{{ execution.id }} > {{ execution.startDate }}"
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.return.value }}"
""",
        ),
    )

    format: str | None = Field(default=None, description="The template to render into `value`.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        return {"value": None if self.format is None else ctx.render_string(self.format)}


class Echo(RunnableTask):
    """Log a rendered template (deprecated: use ``log.Log``)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.debug.Echo",
        short="debug.Echo",
        aliases=("io.kestra.core.tasks.debugs.Echo",),
        title="Log a rendered template (deprecated: use io.kestra.plugin.core.log.Log).",
        deprecated=True,
        examples=(
            """\
id: echo
namespace: company.team
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Echo
    level: WARN
    format: "{{ task.id }} > {{ taskrun.startDate }}"
""",
        ),
    )

    format: str = Field(description="The template to render and log.")
    level: LogLevel = Field(default=LogLevel.INFO, description="The log level of the line.")

    _level_text = field_validator("level", mode="before")(_parse_level)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        ctx.log(self.level, ctx.render_string(self.format))
        return None


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Echo, Return)
