"""Log lines of executions and task runs (Kestra's LogEntry)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kestra_stream.models.task import LogLevel


class LogEntry(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_alias=True,
                              validate_by_name=True, serialize_by_alias=True)

    execution_id: str
    namespace: str
    flow_id: str
    task_id: str | None = None
    taskrun_id: str | None = None
    attempt_number: int | None = None
    level: LogLevel
    message: str
    timestamp: datetime
