"""``flow.Template``: Kestra's deprecated include of a stored template, refused with what to use instead.

Kestra registers the task only when ``kestra.templates.enabled`` is set (off by default) and its
templates were a separate stored resource, which kestra-stream does not have. The type is known here,
with Kestra's properties, so that a flow using it gets that reason rather than "unknown type".
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import AnyTask, Task

_REASON = ("flow.Template is deprecated by Kestra (and off unless kestra.templates.enabled is set) and "
           "kestra-stream has no templates: call the reused tasks as a flow of their own with "
           "io.kestra.plugin.core.flow.Subflow (its inputs replace `args`), or share properties with pluginDefaults")


class Template(Task):
    """Kestra's deprecated include of a template's tasks: refused at validation, with what to use instead."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Template",
        short="flow.Template",
        aliases=("io.kestra.core.tasks.flows.Template",),
        title="Deprecated by Kestra, refused here: use a Subflow.",
        deprecated=True,
        examples=("""\
id: parent
namespace: company.team
tasks:
  - id: reused
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: reused_tasks
    inputs:
      my_forward: "{{ inputs.with_string }}"
""",),
    )

    namespace: str = Field(description="The namespace of the template.")
    template_id: str = Field(description="The id of the template.")
    args: dict[str, str] | None = Field(default=None, description="Named arguments, read by the template as "
                                                                  "parent.outputs.args.")
    errors: list[AnyTask] | None = Field(default=None, description="Tasks run when the template's tasks fail.")

    @model_validator(mode="after")
    def _refused(self) -> Template:
        raise ValueError(_REASON)


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Template,)
