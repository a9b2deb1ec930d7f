"""``output.OutputValues``: expose rendered values as task outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import RunContext, RunnableTask


class OutputValues(RunnableTask):
    """Render a map of values and expose it as the ``values`` output."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.output.OutputValues",
        short="output.OutputValues",
        title="Render a map of values and expose it as the `values` output.",
        examples=(
            """\
id: outputs
namespace: company.team
tasks:
  - id: values
    type: io.kestra.plugin.core.output.OutputValues
    values:
      customer: "{{ inputs.customer }}"
      limits: [10, 20]
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs['values'].values.customer }}"
""",
        ),
    )

    values: dict[str, Any] | None = Field(default=None, description="The values to output; each is rendered.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        rendered = ctx.render(self.values or {})
        return {"values": dict(rendered)}
