"""The flow: Kestra's top-level document, as a frozen pydantic model.

Properties are camelCase in YAML (``afterExecution``, ``pluginDefaults``) and snake_case
here. Task and trigger lists are dispatched to their plugin models through the registry in
the validation context (see ``kestra_stream.models.task``); load flows with
``kestra_stream.flows.load_flow``, which also checks what the model alone cannot (duplicate
ids, expressions, dependsOn cycles) and points every problem at its line.

The source text a flow was loaded from (comments included) travels with the model as
``flow.source``; it is not a YAML property.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kestra_stream.durations import Duration
from kestra_stream.models.inputs import AnyInput, Output
from kestra_stream.models.plugin import PluginDefault
from kestra_stream.models.retry import Retry
from kestra_stream.models.task import (
    AnyCondition,
    AnyTask,
    AnyTrigger,
    FlowableTask,
    Task,
    Trigger,
    WorkerGroup,
    not_implemented,
)

FLOW_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
SYSTEM_LABEL_PREFIX = "system."
# Kestra documents this one system label as set by users on a flow (it locks the flow in the UI).
USER_SYSTEM_LABELS = frozenset({"system.readOnly"})


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)


class Label(_Part):
    """One label of the list form: ``labels: [{key: team, value: data}]``."""

    key: str = Field(min_length=1)
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _scalar_text(cls, value: Any) -> Any:
        return _label_text(value)


class ConcurrencyBehavior(StrEnum):
    QUEUE = "QUEUE"
    CANCEL = "CANCEL"
    FAIL = "FAIL"


class Concurrency(_Part):
    """At most ``limit`` running executions of the flow; what happens to the next one."""

    limit: int = Field(ge=1)
    behavior: ConcurrencyBehavior = ConcurrencyBehavior.QUEUE


class SLAType(StrEnum):
    MAX_DURATION = "MAX_DURATION"
    EXECUTION_ASSERTION = "EXECUTION_ASSERTION"


class SLABehavior(StrEnum):
    FAIL = "FAIL"
    CANCEL = "CANCEL"
    NONE = "NONE"


class SLA(_Part):
    """A service-level agreement on each execution (Kestra beta)."""

    id: str = Field(min_length=1)
    type: SLAType
    duration: Duration | None = None
    assert_: str | None = Field(default=None, alias="assert")
    behavior: SLABehavior = SLABehavior.FAIL
    labels: dict[str, str] | list[Label] | None = None

    @model_validator(mode="after")
    def _complete(self) -> SLA:
        if self.type == SLAType.MAX_DURATION and self.duration is None:
            raise ValueError(f"SLA '{self.id}' of type MAX_DURATION needs a 'duration' such as PT1H")
        if self.type == SLAType.EXECUTION_ASSERTION and self.assert_ is None:
            raise ValueError(f"SLA '{self.id}' of type EXECUTION_ASSERTION needs an 'assert' expression")
        return self


class Listener(_Part):
    """Kestra's deprecated ``listeners``: once the execution ended, the tasks of each listener whose
    ``conditions`` all hold for it run one after the other (a failed one does not stop the next, nor
    change the execution's final state)."""

    description: str | None = None
    conditions: list[AnyCondition] | None = None
    tasks: list[AnyTask] = Field(min_length=1)


class CheckBehavior(StrEnum):
    BLOCK_EXECUTION = "BLOCK_EXECUTION"
    FAIL_EXECUTION = "FAIL_EXECUTION"
    CREATE_EXECUTION = "CREATE_EXECUTION"


class CheckStyle(StrEnum):
    ERROR = "ERROR"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    INFO = "INFO"


class Check(_Part):
    """A condition checked before an execution is created (Kestra 1.2+; ``when`` is its 2.0 name)."""

    condition: str = Field(validation_alias=AliasChoices("condition", "when"))
    message: str
    style: CheckStyle = CheckStyle.INFO
    behavior: CheckBehavior = CheckBehavior.BLOCK_EXECUTION


def _label_text(value: Any) -> Any:
    # Kestra reads label values as text; a YAML number or boolean is what the user meant as text.
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _check_label_keys(keys: list[str]) -> None:
    reserved = [k for k in keys if k.startswith(SYSTEM_LABEL_PREFIX) and k not in USER_SYSTEM_LABELS]
    if reserved:
        raise ValueError(f"label {reserved[0]!r} uses the reserved prefix 'system.', which only Kestra sets; "
                         "rename the label")


class Flow(BaseModel):
    """A Kestra flow. Build it with ``kestra_stream.flows.load_flow`` to have it checked completely."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)

    id: str = Field(pattern=FLOW_ID_PATTERN, max_length=100)
    namespace: str = Field(pattern=NAMESPACE_PATTERN, max_length=150)
    revision: int | None = Field(default=None, ge=1)
    description: str | None = None
    labels: dict[str, str] | list[Label] | None = None
    inputs: list[AnyInput] | None = None
    outputs: list[Output] | None = None
    variables: dict[str, Any] | None = None
    tasks: list[AnyTask] = Field(min_length=1)
    errors: list[AnyTask] | None = None
    finally_: list[AnyTask] | None = Field(default=None, alias="finally")
    after_execution: list[AnyTask] | None = None
    listeners: list[Listener] | None = None
    triggers: list[AnyTrigger] | None = None
    plugin_defaults: list[PluginDefault] | None = Field(
        default=None, validation_alias=AliasChoices("pluginDefaults", "taskDefaults"))
    concurrency: Concurrency | None = None
    retry: Retry | None = None
    sla: list[SLA] | None = None
    disabled: bool = False
    deleted: bool = False
    checks: list[Check] | None = None
    worker_group: WorkerGroup | None = None
    tenant_id: str | None = None

    _source: str | None = PrivateAttr(default=None)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_shape(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            _check_label_keys([str(k) for k in value])
            return {str(k): _label_text(v) for k, v in value.items()}
        if isinstance(value, list):
            keys = [item.get("key") for item in value if isinstance(item, dict)]
            _check_label_keys([k for k in keys if isinstance(k, str)])
            return value
        raise ValueError("labels must be a map (team: data) or a list of {key, value}, "
                         f"got {type(value).__name__}")

    @field_validator("tenant_id")
    @classmethod
    def _no_tenant(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(not_implemented("tenantId", "there is one tenant, whose API paths are /api/v1/... "
                                                         "and /api/v1/main/...; remove it"))
        return value

    @property
    def source(self) -> str | None:
        """The YAML this flow was loaded from, verbatim (comments included), if it came from text."""
        return self._source

    def with_source(self, source: str) -> Flow:
        """This flow carrying ``source`` as its text."""
        copy = self.model_copy()
        copy._source = source
        return copy

    @property
    def uid(self) -> str:
        """``namespace.id``, the flow's name in messages."""
        return f"{self.namespace}.{self.id}"

    @property
    def labels_dict(self) -> dict[str, str]:
        """The labels as a map, whichever form the flow wrote them in (a later key wins)."""
        if self.labels is None:
            return {}
        if isinstance(self.labels, dict):
            return dict(self.labels)
        return {label.key: label.value for label in self.labels}

    def all_tasks(self) -> list[Task]:
        """Every task at any depth: tasks, errors, finally, afterExecution, listeners and children of flowables."""
        return list(_walk(self.tasks, self.errors, self.finally_, self.after_execution, self.listener_tasks()))

    def listener_tasks(self) -> list[Task]:
        return [task for listener in self.listeners or () for task in listener.tasks]

    def find_task(self, task_id: str) -> Task | None:
        """The task with ``task_id`` anywhere in the flow, or None."""
        return next((t for t in self.all_tasks() if t.id == task_id), None)

    def find_trigger(self, trigger_id: str) -> Trigger | None:
        return next((t for t in self.triggers or () if t.id == trigger_id), None)


def _walk(*lists: list[Task] | None) -> Iterator[Task]:
    for tasks in lists:
        for task in tasks or ():
            yield task
            if isinstance(task, FlowableTask):
                yield from _walk(task.child_tasks())

