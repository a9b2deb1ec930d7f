"""``output.OutputValues``: expose rendered values as task outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from kestra_stream.models.plugin import PluginInfo, PluginModel
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

    values: dict[str, Any] | None = Field(
        default=None, description="The values to output: strings are rendered to text, lists and maps recurse, "
                                  "other values are kept as written.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        return {"values": _as_text(ctx, self.values or {})}


def _as_text(ctx: RunContext, value: Any) -> Any:
    # Kestra renders each templated string of `values` to text, so `{{ 1 + 3 }}` outputs "4", not the number
    # (its own flows compare with '4'); what was written as a number or a boolean stays one.
    if isinstance(value, str):
        return ctx.render_string(value)
    if isinstance(value, list):
        return [_as_text(ctx, item) for item in value]
    if isinstance(value, dict):
        return {_as_text(ctx, key): _as_text(ctx, item) for key, item in value.items()}
    return value


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (OutputValues,)
