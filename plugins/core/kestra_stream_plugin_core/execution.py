"""``execution.Fail`` (fail on purpose), ``execution.Labels`` (add labels to the running execution) and
``execution.Resume`` (resume a paused execution)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.expressions import is_truthy
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask
from kestra_stream_plugin_core._base import Label, as_text, condition_text
from kestra_stream_plugin_core._execution_ref import ExecutionTask

# Kestra reserves these for labels it sets itself; a flow may not set them at run time.
SYSTEM_LABEL_PREFIX = "system."


class Fail(RunnableTask):
    """Fail the task, always or when a condition renders true."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.execution.Fail",
        short="execution.Fail",
        aliases=("io.kestra.core.tasks.executions.Fail",),
        title="Fail the task, always or when a condition renders true.",
        examples=(
            """\
id: fail_on_input
namespace: company.team
inputs:
  - id: param
    type: STRING
tasks:
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.param == 'fail' }}"
    errorMessage: "refusing input {{ inputs.param }}"
""",
            """\
id: always_fail
namespace: company.team
tasks:
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
""",
        ),
    )

    condition: str | None = Field(
        default=None, description="Fail only when this renders true; without it the task always fails.")
    error_message: str = Field(default="Task failure", description="The failure message; rendered.")

    _condition_text = field_validator("condition", mode="before")(condition_text)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.condition is not None and not is_truthy(ctx.render(self.condition)):
            return None
        raise TaskFailure(ctx.render_string(self.error_message), task_id=self.id)


def _label_text(value: Any) -> Any:
    # Label values written as YAML numbers or booleans are labels all the same.
    return as_text(value) if isinstance(value, bool | int | float) else value


class Labels(RunnableTask):
    """Add or replace labels of the running execution."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.execution.Labels",
        short="execution.Labels",
        aliases=("io.kestra.core.tasks.executions.Labels",),
        title="Add or replace labels of the running execution.",
        examples=(
            """\
id: labels_as_map
namespace: company.team
tasks:
  - id: labels
    type: io.kestra.plugin.core.execution.Labels
    labels:
      customer: "{{ inputs.customer }}"
      team: data
""",
            """\
id: labels_as_list
namespace: company.team
tasks:
  - id: labels
    type: io.kestra.plugin.core.execution.Labels
    labels:
      - key: customer
        value: acme
""",
        ),
    )

    labels: dict[str, str] | list[Label] | str = Field(
        description="A map of labels, a list of {key, value}, or a JSON object as text; all rendered.")

    @field_validator("labels", mode="before")
    @classmethod
    def _scalar_values(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): _label_text(v) for k, v in value.items()}
        if isinstance(value, list):
            return [{k: _label_text(v) for k, v in item.items()} if isinstance(item, Mapping) else item
                    for item in value]
        return value

    def _raw_pairs(self, ctx: RunContext) -> list[tuple[str, str]]:
        if isinstance(self.labels, str):
            text = ctx.render_string(self.labels)
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TaskFailure(f"labels of task '{self.id}' rendered to {text!r}, which is not a JSON "
                                  f"object; write them as a map instead", task_id=self.id) from exc
            if not isinstance(parsed, dict):
                raise TaskFailure(f"labels of task '{self.id}' rendered to {text!r}: expected a JSON object "
                                  f"such as {{\"team\": \"data\"}}", task_id=self.id)
            return [(str(k), as_text(v)) for k, v in parsed.items()]
        if isinstance(self.labels, dict):
            return [(ctx.render_string(k), ctx.render_string(v)) for k, v in self.labels.items()]
        return [(ctx.render_string(label.key), ctx.render_string(label.value)) for label in self.labels]

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        labels = dict(self._raw_pairs(ctx))
        reserved = sorted(k for k in labels if k.startswith(SYSTEM_LABEL_PREFIX))
        if reserved:
            raise TaskFailure(f"task '{self.id}' may not set system labels ({', '.join(reserved)}): labels "
                              f"starting with '{SYSTEM_LABEL_PREFIX}' are set by kestra-stream itself",
                              task_id=self.id)
        ctx.set_labels(labels)
        return None


class Resume(ExecutionTask):
    """Resume a paused execution: the current one by default, or ``executionId``, with ``onResume`` inputs."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.execution.Resume",
        short="execution.Resume",
        aliases=("io.kestra.core.tasks.executions.Resume",),
        title="Resume a paused execution.",
        examples=(
            """\
id: resume_another
namespace: company.team
inputs:
  - id: executionId
    type: STRING
tasks:
  - id: resume
    type: io.kestra.plugin.core.execution.Resume
    executionId: "{{ inputs.executionId }}"
    inputs:
      approved: true
""",
        ),
    )

    inputs: dict[str, Any] | None = Field(default=None, description="The inputs of the paused task's `onResume`, "
                                          "given to the execution as it resumes; rendered.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace, flow_id, execution_id = self.target(ctx)
        inputs = ctx.render(self.inputs) if self.inputs is not None else None
        if self.execution_id is not None and self.namespace is None:
            # Kestra's Resume finds an `executionId` by its id alone, whatever its flow (its ResumeTest
            # resumes another flow's execution so); only coordinates the user set are checked.
            await self.services(ctx).resume_execution(None, None, execution_id, inputs)
            return None
        await self.services(ctx).resume_execution(namespace, flow_id, execution_id, inputs)
        return None


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Fail, Labels, Resume)
