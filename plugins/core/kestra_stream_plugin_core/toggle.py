"""``trigger.Toggle``: enable or disable a trigger of a flow (this flow's by default) from a task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask


@runtime_checkable
class _SwitchesTriggers(Protocol):
    async def set_trigger_enabled(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> None: ...


class Toggle(RunnableTask):
    """Enable or disable a trigger; a disabled trigger does not fire until it is enabled again."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.trigger.Toggle",
        short="trigger.Toggle",
        aliases=("io.kestra.core.tasks.trigger.Toggle",),
        title="Enable or disable a trigger of a flow.",
        examples=(
            """\
id: stop_the_schedule
namespace: company.team
tasks:
  - id: disable
    type: io.kestra.plugin.core.trigger.Toggle
    trigger: schedule
    enabled: false
triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
""",
        ),
    )

    namespace: str | None = Field(default=None, description="The namespace of the trigger's flow (this flow's "
                                  "by default); rendered.")
    flow_id: str | None = Field(default=None, description="The trigger's flow (this flow by default); rendered.")
    trigger: str = Field(description="The id of the trigger; rendered.")
    enabled: bool = Field(default=False, description="Enable (true) or disable (false) the trigger.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if not isinstance(ctx, _SwitchesTriggers):
            raise TaskFailure("trigger.Toggle needs a worker's run context, which reaches the triggers",
                              task_id=self.id)
        flow = ctx.variables["flow"]
        namespace = str(flow["namespace"]) if self.namespace is None else ctx.render_string(self.namespace)
        flow_id = str(flow["id"]) if self.flow_id is None else ctx.render_string(self.flow_id)
        await ctx.set_trigger_enabled(namespace, flow_id, ctx.render_string(self.trigger), self.enabled)
        return None


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Toggle,)
