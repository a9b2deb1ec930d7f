"""Executions and task runs, in Kestra's shape (camelCase on the wire: taskRunList, flowId ...).

Models are frozen: the executor builds new versions instead of mutating, so a state handed
out (to a snapshot, an API answer) never changes under its reader.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator
from pydantic.alias_generators import to_camel

from kestra_stream.models.state import State, StateType

_CONFIG = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_alias=True, validate_by_name=True,
                     serialize_by_alias=True)


class Attempt(BaseModel):
    model_config = _CONFIG

    state: State
    # A task with logToFile: the kestra:// URI of the file holding this attempt's log lines (Kestra's
    # TaskRunAttempt.logFile), which then are not in the log store.
    log_file: str | None = None
    # The worker that ran it (Kafka: its worker id), as its result said; left out of documents when unknown.
    worker_id: str | None = Field(default=None, exclude_if=lambda value: value is None)


class TaskRun(BaseModel):
    model_config = _CONFIG

    id: str
    execution_id: str
    namespace: str
    flow_id: str
    task_id: str
    parent_task_run_id: str | None = None
    value: str | None = None
    # Set on the direct children of an iteration (ForEach, Each...): the index of their value.
    iteration: int | None = None
    attempts: tuple[Attempt, ...] = ()
    outputs: dict[str, Any] | None = None
    state: State

    @property
    def current(self) -> StateType:
        return self.state.current


class ParentLink(BaseModel):
    """Where a subflow execution reports back to."""

    model_config = _CONFIG

    execution_id: str
    taskrun_id: str
    namespace: str
    flow_id: str
    wait: bool = True
    transmit_failed: bool = True
    # The child tells its parent when it starts running too (ForEachItem counts its batches RUNNING live).
    report_start: bool = False
    # Kestra's deprecated Subflow `outputs`: expressions the child renders at its end, when its flow
    # declares no outputs of its own, as its outputs.
    outputs: dict[str, Any] | None = None


class ExecutionMetadata(BaseModel):
    """Which try of a flow this execution is: a flow retry with CREATE_NEW_EXECUTION starts the next one."""

    model_config = _CONFIG

    attempt_number: int = 1
    original_created_date: datetime | None = None


class TriggeredBy(StrEnum):
    """What started an execution: the executions list filters on it.

    Recorded in ``Execution.trigger`` as ``kind`` when the execution is created, from the trigger's class
    (a polling or realtime trigger of any plugin), since its ``type`` may be an alias or a third party's name.
    """

    MANUAL = "MANUAL"  # the API, the UI, the CLI: no trigger
    SCHEDULE = "SCHEDULE"  # Schedule and ScheduleOnDates, backfills included
    WEBHOOK = "WEBHOOK"
    FLOW = "FLOW"  # a Flow trigger: another flow's execution changed state
    REALTIME = "REALTIME"
    POLLING = "POLLING"
    SUBFLOW = "SUBFLOW"  # a Subflow (or ForEachItem) task of a parent execution


# Before ``kind`` was recorded: the trigger types of the plugins of the time, by the last part of their name.
_KINDS_OF_OLD_TYPES = {"Schedule": TriggeredBy.SCHEDULE, "ScheduleOnDates": TriggeredBy.SCHEDULE,
                       "Webhook": TriggeredBy.WEBHOOK, "Flow": TriggeredBy.FLOW, "Subflow": TriggeredBy.SUBFLOW,
                       "RealtimeTrigger": TriggeredBy.REALTIME, "Trigger": TriggeredBy.POLLING}


def execution_trigger(trigger_id: str, trigger_type: str, variables: dict[str, Any],
                      kind: TriggeredBy, log_file: str | None = None) -> dict[str, Any]:
    """``Execution.trigger`` in Kestra's shape, plus its ``kind``; a flow reads ``variables`` as ``{{ trigger.* }}``.

    ``log_file``: a trigger with logToFile, the URI of its lines (Kestra's ``ExecutionTrigger.logFile``).
    """
    block = {"id": trigger_id, "type": trigger_type, "variables": variables, "kind": kind.value}
    if log_file is not None:
        block["logFile"] = log_file
    return block


class Execution(BaseModel):
    model_config = _CONFIG

    id: str
    namespace: str
    flow_id: str
    flow_revision: int = 1
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    state: State
    task_run_list: tuple[TaskRun, ...] = ()
    trigger: dict[str, Any] | None = None
    parent: ParentLink | None = None
    original_id: str | None = None
    schedule_date: datetime | None = None
    metadata: ExecutionMetadata = Field(default_factory=ExecutionMetadata)

    @field_serializer("labels")
    def _labels_as_list(self, labels: dict[str, str]) -> list[dict[str, str]]:
        return [{"key": k, "value": v} for k, v in labels.items()]

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(item["key"]): str(item["value"]) for item in value}
        return value

    @property
    def triggered_by(self) -> TriggeredBy:
        if self.trigger is None:
            return TriggeredBy.MANUAL
        kind = self.trigger.get("kind")
        if isinstance(kind, str) and kind in TriggeredBy.__members__:
            return TriggeredBy(kind)
        # Created before kinds were recorded (an execution of an older version, replayed or indexed again); a
        # third party's trigger of the time is taken as polling, what most plugins' triggers are.
        return _KINDS_OF_OLD_TYPES.get(str(self.trigger.get("type", "")).rpartition(".")[2], TriggeredBy.POLLING)

    @property
    def trigger_execution_id(self) -> str | None:
        """The execution that started this one (a Flow trigger's upstream, a Subflow's parent), as Kestra's
        ``triggerExecutionId``."""
        variables = (self.trigger or {}).get("variables")
        found = variables.get("executionId") if isinstance(variables, dict) else None
        return found if isinstance(found, str) else None

    def find_taskrun(self, taskrun_id: str) -> TaskRun | None:
        for tr in self.task_run_list:
            if tr.id == taskrun_id:
                return tr
        return None

    def taskruns_of(self, task_id: str) -> list[TaskRun]:
        return [tr for tr in self.task_run_list if tr.task_id == task_id]
