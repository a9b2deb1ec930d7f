"""Events: every input to the executor, keyed by execution id (the executor inbox).

Each event carries its own time (``at``) and id; the fold reads no clock. Applying an event
that no longer applies (a result for an attempt already ended, a timer for a task run that
moved on, a second kill) changes nothing, which makes redelivery harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from kestra_stream.models.execution import Execution, ExecutionMetadata, ParentLink
from kestra_stream.models.state import StateType

# "sla" and "execution_start" concern the whole execution: their TimerFired names no task run
# (taskrun_id holds the SLA id, or is empty).
TimerPurpose = Literal["retry", "timeout", "sleep", "pause_delay", "pause_duration", "sla", "execution_start",
                       "flowable"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    execution_id: str
    at: datetime


class FailedCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    message: str
    style: str
    fail: bool  # FAIL_EXECUTION: the execution is created FAILED and runs nothing


class ExecutionCreated(_Event):
    kind: Literal["created"] = "created"
    namespace: str
    flow_id: str
    flow_revision: int
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    trigger: dict[str, Any] | None = None
    parent: ParentLink | None = None
    envs: dict[str, str] = Field(default_factory=dict)
    globals: dict[str, Any] = Field(default_factory=dict)
    schedule_date: datetime | None = None
    # A flow retry (CREATE_NEW_EXECUTION): which try this is, of which first execution, and when it may start.
    metadata: ExecutionMetadata | None = None
    original_id: str | None = None
    start_at: datetime | None = None
    # Flow checks whose condition was false and whose behavior still creates the execution.
    failed_checks: list[FailedCheck] = Field(default_factory=list)


class ExecutionReplayed(_Event):
    """A new execution (``execution_id``) re-running ``source`` from one of its task runs."""

    kind: Literal["replayed"] = "replayed"
    source: Execution
    taskrun_id: str | None = None
    envs: dict[str, str] = Field(default_factory=dict)
    globals: dict[str, Any] = Field(default_factory=dict)


class Dequeued(_Event):
    """The flow's concurrency limit lets a QUEUED execution start."""

    kind: Literal["dequeued"] = "dequeued"


class Rejected(_Event):
    """The flow's concurrency limit is reached and its behavior is CANCEL or FAIL."""

    kind: Literal["rejected"] = "rejected"
    state: Literal[StateType.CANCELLED, StateType.FAILED]


class TaskResult(_Event):
    kind: Literal["task_result"] = "task_result"
    taskrun_id: str
    attempt: int  # 1-based
    state: StateType
    outputs: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    message: str | None = None
    # Outputs of the WorkingDirectory the task ran in (its outputFiles), merged into that task run's.
    directory_outputs: dict[str, Any] | None = None
    # A task with logToFile: where the worker stored the attempt's log lines.
    log_file: str | None = None
    worker_id: str | None = None  # the worker that ran the attempt, kept on the attempt


class TimerFired(_Event):
    kind: Literal["timer"] = "timer"
    timer_id: str
    purpose: TimerPurpose
    taskrun_id: str
    attempt: int


class KillRequested(_Event):
    kind: Literal["kill"] = "kill"


class PauseRequested(_Event):
    kind: Literal["pause"] = "pause"


class ResumeRequested(_Event):
    kind: Literal["resume"] = "resume"
    # Already validated against the Pause task's onResume inputs by whoever accepted the request.
    inputs: dict[str, Any] = Field(default_factory=dict)


class RestartRequested(_Event):
    kind: Literal["restart"] = "restart"


# What a task run can be set to by hand (Kestra's "change status" of an ended task run).
CHANGEABLE_STATES = (StateType.SUCCESS, StateType.FAILED, StateType.WARNING)


class TaskRunStateSet(_Event):
    """A task run of an ended execution given ``state`` by hand (Kestra's "change status"): the execution
    runs on from there. Checked before it is sent (``requests.check_taskrun_state``)."""

    kind: Literal["taskrun_state"] = "taskrun_state"
    taskrun_id: str
    state: StateType


class LabelsSet(_Event):
    """Labels added to or changed on an execution (the API's "set labels"); other labels are kept."""

    kind: Literal["labels"] = "labels"
    labels: dict[str, str]


class SubflowEnded(_Event):
    """A child execution started by a Subflow task ended (or could not start)."""

    kind: Literal["subflow_ended"] = "subflow_ended"
    taskrun_id: str
    child_execution_id: str
    state: StateType
    outputs: dict[str, Any] | None = None
    message: str | None = None


class SubflowStarted(_Event):
    """A child execution that reports its start (a ForEachItem batch) began to run: its parent counts it RUNNING."""

    kind: Literal["subflow_started"] = "subflow_started"
    taskrun_id: str
    child_execution_id: str


class RecordUnreadable(_Event):
    """A record of this execution's inbox that no version of the wire format reads (a backend kept it aside,
    on a dead-letter topic). Nobody can tell what it said, so rather than let the execution wait for it
    forever, the runtime ends a running execution FAILED with ``reason``."""

    kind: Literal["unreadable"] = "unreadable"
    reason: str


class EvictionDue(_Event):
    """An ended execution's grace period passed: the backend may drop it from the executor's tables. Its final
    state stays where readers find it (the executions topic, the index); nothing about the execution changes."""

    kind: Literal["evict"] = "evict"


Event = Annotated[
    ExecutionCreated | ExecutionReplayed | Dequeued | Rejected | TaskResult | TimerFired | KillRequested
    | PauseRequested | ResumeRequested | RestartRequested | TaskRunStateSet | SubflowEnded | LabelsSet
    | RecordUnreadable | EvictionDue | SubflowStarted,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
