"""``flow.Template``: Kestra's deprecated include of a stored template's tasks.

Kestra registers the task only when ``kestra.templates.enabled`` is set; here the type is always
known (so that ``plugins list`` shows it with Kestra's properties) and a flow using it is refused,
saying how to turn templates on, unless ``KESTRA_STREAM_TEMPLATES_ENABLED=true``. The semantics are
the engine's (``kestra_stream.models.template``): the executor injects the template's tasks.
"""

from __future__ import annotations

from typing import ClassVar

from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.template import TemplateTask


class Template(TemplateTask):
    """Include the tasks of a stored template (deprecated by Kestra: prefer a Subflow)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Template",
        short="flow.Template",
        aliases=("io.kestra.core.tasks.flows.Template",),
        title="Include a reusable template inside a flow (deprecated; off unless "
              "KESTRA_STREAM_TEMPLATES_ENABLED=true; prefer a Subflow).",
        deprecated=True,
        examples=("""\
id: with_template
namespace: company.team
inputs:
  - id: name
    type: STRING
tasks:
  - id: before
    type: io.kestra.plugin.core.debug.Return
    format: "{{ task.id }}"
  - id: shared
    type: io.kestra.plugin.core.flow.Template
    namespace: company.team
    templateId: greetings
    args:
      name: "{{ inputs.name }}"
""",),
    )


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Template,)
