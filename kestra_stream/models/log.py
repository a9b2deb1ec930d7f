"""Log lines of executions and task runs (Kestra's LogEntry)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.models.task import LogLevel


class LogEntry(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_alias=True,
                              validate_by_name=True, serialize_by_alias=True)

    execution_id: str
    namespace: str
    flow_id: str
    task_id: str | None = None
    # Kestra writes `taskRunId`; lines stored before we did are read too.
    taskrun_id: str | None = Field(default=None, serialization_alias="taskRunId",
                                   validation_alias=AliasChoices("taskRunId", "taskrunId", "taskrun_id"))
    attempt_number: int | None = None
    level: LogLevel
    message: str
    timestamp: datetime


def log_line(timestamp: datetime, level: LogLevel, message: str) -> str:
    """One line of a log file (a task's or a trigger's logToFile): ISO time, level padded to five, the message."""
    return f"{timestamp.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} {level.value:<5} {message}\n"
