"""Kestra's templates (deprecated by Kestra, off unless enabled): a stored list of tasks a flow includes.

A template (Kestra's ``models.templates.Template``) is a resource of its own: namespace, id,
description, tasks and errors, validated as a flow's tasks are. A flow includes one with the
``flow.Template`` task (``TemplateTask`` here, the engine primitive its plugin names): the
executor injects the template's current tasks into the task each time it reads the flow (see
``kestra_stream.templates``), and the task then runs them in sequence, with the template's
errors and its own as error branches. Its ``args`` are rendered once, as its outputs: the
template's tasks read them as ``{{ parent.outputs.args.<name> }}``.

Templates are off by default, as in Kestra (``kestra.templates.enabled``): with
``KESTRA_STREAM_TEMPLATES_ENABLED=true`` in the environment of every component (``server
standalone`` hands its own to its children) a flow may use them; without it such a flow is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from kestra_stream.models.task import AnyTask, FlowableTask, Task
from kestra_stream.plugins.spi import as_text

if TYPE_CHECKING:
    from kestra_stream.executor.flowables import FlowableContext, Resolution

ENV_ENABLED = "KESTRA_STREAM_TEMPLATES_ENABLED"
TEMPLATE_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"

DISABLED_REASON = (
    "flow.Template is deprecated by Kestra and templates are off (as Kestra's kestra.templates.enabled, off by "
    f"default): set {ENV_ENABLED}=true in the environment of every kestra-stream process to turn them on, or "
    "better, call the reused tasks as a flow of their own with io.kestra.plugin.core.flow.Subflow (its inputs "
    "replace `args`)")


def templates_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether templates are on: ``KESTRA_STREAM_TEMPLATES_ENABLED`` is true (read where it is needed, so
    that every component, each in its own process, reads the environment it was started with)."""
    value = (os.environ if environ is None else environ).get(ENV_ENABLED, "")
    return value.strip().lower() in ("true", "1", "yes", "on")


class FlowTemplate(BaseModel):
    """A stored template: what a ``flow.Template`` task includes. Load it with ``kestra_stream.templates``."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)

    id: str = Field(pattern=TEMPLATE_ID_PATTERN, max_length=100)
    namespace: str = Field(pattern=NAMESPACE_PATTERN, max_length=150)
    description: str | None = None
    tasks: list[AnyTask] = Field(min_length=1)
    errors: list[AnyTask] | None = None

    _source: str | None = PrivateAttr(default=None)

    @property
    def uid(self) -> str:
        return f"{self.namespace}.{self.id}"

    @property
    def source(self) -> str | None:
        """The YAML this template was loaded from, verbatim."""
        return self._source

    def with_source(self, source: str) -> FlowTemplate:
        copy = self.model_copy()
        copy._source = source
        return copy


@dataclass(frozen=True, slots=True)
class Included:
    """What the executor found for a ``flow.Template`` task when it read the flow: the template, or why not."""

    template: FlowTemplate | None
    reason: str | None = None


class TemplateTask(FlowableTask):
    """Includes the tasks of the stored template ``namespace``.``templateId`` (deprecated by Kestra)."""

    namespace: str = Field(description="The namespace of the template.")
    template_id: str = Field(description="The id of the template.")
    args: dict[str, str] | None = Field(
        default=None, description="Named arguments, rendered when the task starts and read by the template's "
                                  "tasks as `{{ parent.outputs.args.<name> }}`.")

    # Kestra's Template has no `finally`: left out of the schema, and refused with what to do instead.
    finally_: SkipJsonSchema[list[AnyTask] | None] = Field(default=None, alias="finally")
    # Set by the executor on the copy it folds with (never from YAML): see ``included``.
    _included: Included | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _enabled_and_kestras(self) -> TemplateTask:
        if not templates_enabled():
            raise ValueError(DISABLED_REASON)
        if self.finally_ is not None:  # Kestra's Template has errors only
            raise ValueError("flow.Template has no `finally`: put the tasks after the Template task, or in the "
                             "flow's own `finally`")
        return self

    @property
    def template_uid(self) -> str:
        return f"{self.namespace}.{self.template_id}"

    @property
    def included(self) -> Included | None:
        """The template the executor injected, or None when this task was not given one."""
        return self._included

    def including(self, included: Included) -> TemplateTask:
        """A copy of this task running ``included``: the template's errors run before this task's own."""
        errors = [*(included.template.errors or ()), *(self.errors or ())] if included.template else self.errors
        copy = self.model_copy(update={"errors": errors or None})
        copy._included = included
        return copy

    def branches(self) -> Mapping[str, list[Task]]:
        template = self._included.template if self._included is not None else None
        return {"tasks": list(template.tasks)} if template is not None else {}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        template = self._included.template if self._included is not None else None
        if template is None:
            reason = self._included.reason if self._included is not None else None
            raise ValueError(reason or f"Can't find flow template '{self.template_uid}'")
        # Kestra renders each argument to text, then the whole map again; kept once as this task run's outputs.
        texts = {name: as_text(ctx.render(value)) for name, value in (self.args or {}).items()}
        ctx.render_once("args", texts)
        return ctx.sequence(template.tasks)

