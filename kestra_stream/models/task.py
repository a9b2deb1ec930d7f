"""The bases every task, trigger, condition and task runner plugin inherits.

A task is one of:

- ``RunnableTask``: run by a worker (Log, HTTP, scripts ...); its ``run`` is the whole contract.
- ``FlowableTask``: resolved by the executor, purely, into child task runs (Sequential, If, ForEach ...).
- an engine primitive the executor handles itself, with its properties declared here:
  ``SleepTask`` (a persisted timer), ``PauseTask`` (pause / resume) and ``SubflowTask``
  (a child execution).

Task lists inside flows and flowable tasks are typed ``AnyTask``: a raw mapping is turned
into the model of its ``type`` by the plugin registry found in the validation context, with
plugin defaults merged in first (see ``kestra_stream.flows.defaults``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kestra_stream.durations import Duration, DynamicDuration
from kestra_stream.errors import PluginError
from kestra_stream.models.inputs import AnyInput
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.retry import Retry
from kestra_stream.models.state import StateType

if TYPE_CHECKING:
    from pathlib import Path

    from kestra_stream.executor.flowables import FlowableContext, Resolution
    from kestra_stream.models.execution import Execution
    from kestra_stream.models.flow import Flow
    from kestra_stream.storage import Storage

TASK_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"


class LogLevel(StrEnum):
    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"

    @classmethod
    def parse(cls, value: str) -> LogLevel:
        return cls("WARN" if value.upper() == "WARNING" else value.upper())

    @property
    def rank(self) -> int:
        return list(LogLevel).index(self)


def not_implemented(what: str, instead: str) -> str:
    """The message of a Kestra property this project refuses rather than accept and ignore."""
    return f"{what} is not implemented by kestra-stream: {instead}"


class _Sub(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True, defer_build=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)


class WorkerGroup(_Sub):
    """The workers that may run a task: only those started with its key (`worker --worker-group KEY`).

    Its fallback says what the task does when no worker of the group is alive as it is dispatched:
    WAIT (Kestra's default) until one appears, FAIL its attempt, or CANCEL (kill) its task run.
    """

    key: str = Field(pattern=TASK_ID_PATTERN, max_length=256)
    fallback: Literal["FAIL", "WAIT", "CANCEL"] = "WAIT"


def _dispatch(kind: str) -> Callable[[Any, ValidatorFunctionWrapHandler, ValidationInfo], Any]:
    """A validator turning a raw mapping into the plugin model its ``type`` names."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if isinstance(value, PluginModel):
            return value
        from kestra_stream.flows.defaults import apply_plugin_defaults
        from kestra_stream.plugins.registry import PluginKind, registry_from_context

        if not isinstance(value, Mapping):
            raise ValueError(f"expected a {kind} (a mapping with a 'type'), got {type(value).__name__}")
        type_name = value.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise ValueError(f"every {kind} needs a 'type'")
        registry = registry_from_context(info.context)
        try:
            cls = registry.require(PluginKind(kind), type_name)
        except PluginError as exc:
            # A validation error (not an exception) keeps the task's location and lets validation go
            # on to report every other problem of the flow too.
            raise PydanticCustomError("unknown_plugin_type", "{reason}", {"reason": str(exc)}) from None
        raw = apply_plugin_defaults(dict(value), cls, (info.context or {}).get("plugin_defaults", ()))
        return cls.model_validate(raw, context=info.context)

    return validate


class Task(PluginModel):
    id: str = Field(pattern=TASK_ID_PATTERN, max_length=256)
    description: str | None = None
    retry: Retry | None = None
    timeout: Duration | None = None
    disabled: bool = False
    allow_failure: bool = False
    allow_warning: bool = False
    log_level: LogLevel | None = None
    # The attempt's log lines go to a file in internal storage (the attempt's logFile), not the log store.
    log_to_file: bool = False
    # An expression; the task is SKIPPED when it renders falsy.
    run_if: str = "true"
    worker_group: WorkerGroup | None = None

    # True for a task that starts executions of the flow its ``namespace`` and ``flowId`` name (Kestra's
    # ExecutableTask): a flow may not name itself there, which validation refuses.
    calls_flow: ClassVar[bool] = False

    @field_validator("run_if", mode="before")
    @classmethod
    def _run_if_text(cls, value: Any) -> Any:
        return str(value).lower() if isinstance(value, bool) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return LogLevel.parse(value) if isinstance(value, str) else value


AnyTask = Annotated[SerializeAsAny[Task], WrapValidator(_dispatch("task"))]


class RunContext(Protocol):
    """What a runnable task sees of the world while it runs one attempt (built by the worker)."""

    @property
    def execution_id(self) -> str: ...
    @property
    def taskrun_id(self) -> str: ...
    @property
    def attempt_number(self) -> int: ...
    @property
    def variables(self) -> Mapping[str, Any]: ...

    def render(self, value: Any) -> Any:
        """Render a property: a lone ``{{ expr }}`` keeps its native type, lists and maps recurse."""

    def render_string(self, value: Any) -> str: ...

    def render_string_with(self, template: str, variables: Mapping[str, Any]) -> str:
        """Render ``template`` to text with ``variables`` over the task's own (an item's fields, say)."""

    def log(self, level: LogLevel, message: str) -> None: ...
    def set_labels(self, labels: Mapping[str, str]) -> None: ...
    def set_warning(self, reason: str) -> None: ...

    def encrypt(self, plaintext: str) -> dict[str, str]:
        """``plaintext`` as an encrypted output (Kestra's EncryptedString) under the server's key; a task
        failure saying what to set when no key is configured."""

    def working_directory(self) -> Path:
        """A fresh, empty directory for this attempt, created on first use and removed after it."""

    @property
    def storage(self) -> Storage:
        """Internal storage (``kestra://`` URIs), scoped to this execution's namespace and flow."""


class RunnableTask(Task):
    """A task a worker runs; ``run`` returns its outputs or raises (``TaskFailure`` to fail with a message)."""

    @abstractmethod
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None: ...


class FlowableTask(Task):
    """A task the executor resolves, without I/O, into child task runs."""

    errors: list[AnyTask] | None = None
    finally_: list[AnyTask] | None = Field(default=None, alias="finally")

    @abstractmethod
    def branches(self) -> Mapping[str, list[Task]]:
        """Every list of child tasks by its property name (errors and finally excluded)."""

    def child_tasks(self) -> list[Task]:
        """Every direct child, in every branch, errors and finally included."""
        out: list[Task] = [t for tasks in self.branches().values() for t in tasks]
        return out + list(self.errors or ()) + list(self.finally_ or ())

    @abstractmethod
    def resolve(self, ctx: FlowableContext) -> Resolution:
        """Decide which children to start next, or the state this task ended in."""


class NamespaceFiles(_Sub):
    """Which files of the namespace's file store are copied into a working directory."""

    enabled: bool = True
    include: list[str] | None = None
    exclude: list[str] | None = None


class DirectoryCache(_Sub):
    """A WorkingDirectory's ``cache``: its files matching ``patterns``, kept per flow and task for later runs."""

    patterns: list[str] = Field(min_length=1, description="Globs of the files to keep ('node_modules/**').")
    ttl: Duration | None = Field(default=None, description="How long a cache is used after it was last written.")


class WorkingDirectoryTask(FlowableTask):
    """Runs its runnable children one after another in one working directory.

    The executor resolves the children as a sequence and names this task run on each child's
    worker job (``RunTask.directory``); the worker restores the directory a previous child left
    (kept in internal storage), or seeds it with ``namespaceFiles`` and ``inputFiles``, runs the
    child in it, then keeps it again and uploads ``outputFiles`` (this task run's outputs).
    """

    input_files: dict[str, Any] | str | None = None
    output_files: list[str] | None = None
    namespace_files: NamespaceFiles | None = None
    cache: DirectoryCache | None = None


class SharedDirectory(BaseModel):
    """On a worker job: the working directory its task shares with the other children of its owner."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner_task_id: str
    owner_taskrun_id: str
    input_files: dict[str, Any] | str | None = None
    output_files: list[str] | None = None
    namespace_files: NamespaceFiles | None = None
    cache: DirectoryCache | None = None
    # The owner's task-run value (inside a ForEach): each value keeps a cache of its own, as in Kestra.
    owner_value: str | None = None


class SleepTask(Task):
    """Waits, on a persisted timer of the executor, then succeeds."""

    duration: Duration


class PauseTask(Task):
    """Pauses the execution until it is resumed.

    ``delay`` (older) resumes it after a while; ``pauseDuration`` ends the pause after a while
    with ``behavior``; the task's ``timeout`` fails it when nobody resumed it in time. Both may be
    expressions, rendered when the pause starts. A pause that is also a ``FlowableTask`` (Kestra's
    deprecated ``tasks`` under Pause) runs its children once resumed.
    """

    delay: DynamicDuration | None = None
    pause_duration: DynamicDuration | None = None
    on_resume: list[AnyInput] | None = None
    behavior: Literal["RESUME", "WARN", "FAIL", "CANCEL"] = "RESUME"


class ChildFlowTask(Task):
    """What every task that starts executions of another flow says about them (Kestra's ChildFlowInterface)."""

    calls_flow: ClassVar[bool] = True
    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: dict[str, Any] | None = None
    labels: dict[str, str] | list[dict[str, str]] | None = None
    wait: bool = True
    transmit_failed: bool = True
    inherit_labels: bool = False


class SubflowTask(ChildFlowTask):
    """Starts an execution of another flow, optionally waiting for it to end."""

    # Deprecated in Kestra (use the child flow's outputs): rendered by the child execution at its end.
    outputs: dict[str, Any] | None = None
    schedule_date: str | None = None
    # On restart of the parent: restart the failed child execution itself, or start a new one.
    restart_behavior: Literal["RETRY_FAILED", "NEW_EXECUTION"] = "RETRY_FAILED"

    @field_validator("schedule_date")
    @classmethod
    def _no_schedule_date(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(not_implemented("scheduleDate on a Subflow", "the child execution starts at once; "
                                                                          "put a Pause with a delay at the start of "
                                                                          "the child flow instead"))
        return value


class SubflowBatchesTask(ChildFlowTask):
    """Starts one execution of another flow per batch of a file, and ends when they all did (ForEachItem's
    ``_items``). The batches' URIs are ``outputs.batches`` of the sibling task run ``split_task_id`` (a worker
    split the file: the executor never reads storage); ``taskrun.items`` and ``taskrun.iteration`` (1 first)
    render each child's ``inputs``."""

    split_task_id: str


@dataclass(frozen=True)
class ConditionContext:
    """What a condition is tested against; built by the scheduler or the flow-trigger component.

    ``variables`` are the ones a condition's expressions render with (``trigger.*`` among them);
    ``date`` is the schedule date being fired (aware), ``execution`` the upstream execution of a
    Flow trigger.
    """

    flow: Flow
    variables: Mapping[str, Any]
    date: datetime | None = None
    execution: Execution | None = None


class Condition(PluginModel):
    """A trigger condition; evaluated by the scheduler or the flow-trigger component."""

    def test(self, ctx: ConditionContext) -> bool:
        """Whether the trigger may fire; pure (no I/O, no clock: time comes in on ``ctx``)."""
        raise PluginError(f"condition {self.type} cannot be evaluated for this trigger")


AnyCondition = Annotated[SerializeAsAny[Condition], WrapValidator(_dispatch("condition"))]


class TaskRunner(PluginModel):
    """Where a script task runs (the Process runner on this machine)."""


AnyTaskRunner = Annotated[SerializeAsAny[TaskRunner], WrapValidator(_dispatch("task_runner"))]


class Trigger(PluginModel):
    id: str = Field(pattern=TASK_ID_PATTERN, max_length=256)
    description: str | None = None
    conditions: list[AnyCondition] | None = None
    disabled: bool = False
    labels: dict[str, str] | list[dict[str, str]] | None = None
    stop_after: list[StateType] | None = None
    log_level: LogLevel | None = None
    min_log_level: LogLevel | None = None
    fail_on_trigger_error: bool = False
    log_to_file: bool = False
    worker_group: WorkerGroup | None = None

    @property
    def kept_log_level(self) -> LogLevel | None:
        """The lowest level of the lines this trigger's evaluations keep (``minLogLevel``: Kestra's old name)."""
        return self.log_level or self.min_log_level

    @property
    def group_key(self) -> str | None:
        """The workerGroup key of the processes that evaluate this trigger (None: those of no group)."""
        return self.worker_group.key if self.worker_group is not None else None

    @model_validator(mode="after")
    def _unsupported(self) -> Trigger:
        if self.worker_group is not None:
            if not isinstance(self, PollingTrigger | RealtimeTrigger):
                # As in Kestra Enterprise, only polling and realtime triggers run where their group is;
                # a date is fired by the scheduler, a flow trigger by the executor's side, a webhook by the
                # webserver, whatever the key: taking it here would be taking it to ignore it.
                raise ValueError(not_implemented(
                    f"workerGroup on a {self.type.rsplit('.', 1)[-1]} trigger",
                    "only polling and realtime triggers are evaluated by a worker group's processes; set "
                    "workerGroup on the flow or on its tasks instead"))
            if self.worker_group.fallback != "WAIT":
                raise ValueError(not_implemented(
                    f"workerGroup.fallback {self.worker_group.fallback} on a trigger",
                    "a trigger of a group with no live process is evaluated once one starts (WAIT); remove "
                    "the fallback"))
        if self.fail_on_trigger_error:
            raise ValueError(not_implemented("failOnTriggerError", "a trigger's errors are logged and it tries "
                                                                   "again at its next evaluation; remove it"))
        return self


class TriggerContext(Protocol):
    """What a polling or realtime trigger sees while it runs (built by the scheduler).

    ``emit`` starts one execution of the flow with these trigger variables (``{{ trigger.* }}``),
    the trigger's ``inputs`` and ``labels`` rendered with them, and returns its id once the
    execution is durably created; a trigger acknowledges its source (commits an offset) only then.
    ``key`` names what fired (a record's topic/partition/offset): emitting the same key twice
    creates one execution.
    """

    @property
    def flow(self) -> Flow: ...
    @property
    def storage(self) -> Storage:
        """Internal storage scoped to the flow (write the files handed to an execution at ``file_uri``)."""

    def file_uri(self, key: str, name: str) -> str:
        """Where to store file ``name`` for the execution ``emit(..., key=key)`` will start."""


    def render(self, value: Any) -> Any: ...

    def render_with(self, value: Any, extra: Mapping[str, Any]) -> Any:
        """``value`` rendered with ``extra`` variables beside the trigger's (http.Trigger's ``response``)."""

    def encrypt(self, plaintext: str) -> dict[str, str]:
        """``plaintext`` as an encrypted output (Kestra's EncryptedString) under the server's key; raises
        when the server has none."""

    def log(self, level: LogLevel, message: str) -> None: ...
    async def emit(self, variables: Mapping[str, Any], *, key: str | None = None) -> str: ...


class PollingTrigger(Trigger):
    """A trigger the scheduler asks every ``interval`` whether to start an execution."""

    interval: Duration = Field(default=timedelta(minutes=1), description="How often to poll.")

    @abstractmethod
    async def evaluate(self, ctx: TriggerContext) -> Mapping[str, Any] | None:
        """The trigger variables of one execution to start now, or None (the scheduler emits it)."""


class RealtimeTrigger(Trigger):
    """A trigger that listens for events and starts one execution per event, as they come."""

    @abstractmethod
    async def listen(self, ctx: TriggerContext) -> None:
        """Run until cancelled, awaiting ``ctx.emit`` for each event; raising ends it (restarted with backoff)."""


AnyTrigger = Annotated[SerializeAsAny[Trigger], WrapValidator(_dispatch("trigger"))]
