"""Commands: what the fold asks the backend to do. The backend only moves them; it decides nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from kestra_stream.executor.events import ExecutionCreated, TimerPurpose
from kestra_stream.models.execution import Execution, ParentLink
from kestra_stream.models.state import StateType
from kestra_stream.models.task import AnyTask, LogLevel, SharedDirectory, WorkerGroup


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_id: str


class RunTask(_Command):
    """A worker job: one attempt of a runnable task, with everything needed to render it."""

    kind: Literal["run_task"] = "run_task"
    taskrun_id: str
    attempt: int
    task: AnyTask
    variables: dict[str, Any]
    namespace: str
    flow_id: str
    min_log_level: LogLevel | None = None
    # Ids of the flow's SECRET inputs: the worker masks their values in every log line and output.
    secret_inputs: tuple[str, ...] = ()
    # Set when the task runs inside a WorkingDirectory: the directory it shares with its siblings.
    directory: SharedDirectory | None = None
    # The workers that may take this job (the task's workerGroup, else its flow's); None: workers of no group.
    worker_group: WorkerGroup | None = None

    @property
    def group_key(self) -> str | None:
        return self.worker_group.key if self.worker_group is not None else None

    @property
    def job_id(self) -> str:
        return f"{self.taskrun_id}:{self.attempt}"


class KillTask(_Command):
    kind: Literal["kill_task"] = "kill_task"
    taskrun_id: str
    attempt: int


class ScheduleTimer(_Command):
    kind: Literal["schedule_timer"] = "schedule_timer"
    timer_id: str
    fire_at: datetime
    purpose: TimerPurpose
    taskrun_id: str
    attempt: int


class CreateExecution(_Command):
    """Start another execution of the flow (a flow retry with CREATE_NEW_EXECUTION): publish ``created``."""

    kind: Literal["create_execution"] = "create_execution"
    created: ExecutionCreated


class CancelTimer(_Command):
    kind: Literal["cancel_timer"] = "cancel_timer"
    timer_id: str


class StartSubflow(_Command):
    kind: Literal["start_subflow"] = "start_subflow"
    child_execution_id: str
    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    parent: ParentLink


class KillExecution(_Command):
    """Kill another execution (a running child of a killed parent)."""

    kind: Literal["kill_execution"] = "kill_execution"


class RestartExecution(_Command):
    """Restart another execution (the failed child of a restarted parent)."""

    kind: Literal["restart_execution"] = "restart_execution"


class AcquireSlot(_Command):
    """The execution waits QUEUED for one of its flow's ``limit`` concurrent slots."""

    kind: Literal["acquire_slot"] = "acquire_slot"
    namespace: str
    flow_id: str
    limit: int
    behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE"
    # Queued executions start in creation order, whatever order their requests arrive in.
    created_at: datetime | None = None


class EmitLog(_Command):
    kind: Literal["log"] = "log"
    taskrun_id: str | None = None
    task_id: str | None = None
    level: LogLevel
    message: str
    at: datetime


class ExecutionEnded(_Command):
    """The execution reached its final state and ran its afterExecution tasks."""

    kind: Literal["ended"] = "ended"
    execution: Execution
    state: StateType
    parent: ParentLink | None = None


class ExecutionStarted(_Command):
    """An execution whose parent asked to hear of its start (``ParentLink.report_start``) began to run."""

    kind: Literal["started"] = "started"
    parent: ParentLink


Command = Annotated[
    RunTask | KillTask | ScheduleTimer | CancelTimer | CreateExecution | StartSubflow | KillExecution
    | RestartExecution | AcquireSlot | EmitLog | ExecutionEnded | ExecutionStarted,
    Field(discriminator="kind"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
