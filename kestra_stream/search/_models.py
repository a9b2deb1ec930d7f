"""What the search repositories are asked and what they answer: queries, pages, counts, documents.

The queries are pydantic models because the API hands them over from query strings; the
repositories read them as plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.flows.record import FlowRecord
from kestra_stream.models.execution import Execution, TriggeredBy
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel

if TYPE_CHECKING:
    from kestra_stream.search._history import LogPurge

T = TypeVar("T")

MAX_PAGE_SIZE = 1000
# Elasticsearch's default index.max_result_window: pages past it are refused the same way on both backends.
MAX_RESULT_WINDOW = 10_000
_QUERY = ConfigDict(frozen=True, extra="forbid")


class ExecutionSort(StrEnum):
    START_DATE = "startDate"
    END_DATE = "endDate"
    DURATION = "duration"
    ID = "id"
    NAMESPACE = "namespace"
    FLOW_ID = "flowId"
    STATE = "state"


class Paging(BaseModel):
    model_config = _QUERY

    page: int = Field(default=1, ge=1)
    size: int = Field(default=25, ge=1, le=MAX_PAGE_SIZE)

    @model_validator(mode="after")
    def _within_the_result_window(self) -> Paging:
        if self.page * self.size > MAX_RESULT_WINDOW:
            raise ValueError(f"page {self.page} of size {self.size} reaches past the first {MAX_RESULT_WINDOW:,} "
                             "results; narrow the search (dates, namespace, state) instead of paging that far")
        return self

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


class ExecutionQuery(BaseModel):
    """Executions matching every given filter; ``namespace`` also matches its children (``a.b`` under ``a``)
    unless ``exact_namespace``."""

    model_config = _QUERY

    namespace: str | None = None
    exact_namespace: bool = False
    flow_id: str | None = None
    states: tuple[StateType, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    # On the start date (first state change): start_date <= date < end_date.
    start_date: datetime | None = None
    end_date: datetime | None = None
    # Every word must appear in the id, namespace, flow id, labels or input values.
    text: str | None = None
    # Any of these (an empty tuple: any).
    triggered_by: tuple[TriggeredBy, ...] = ()
    # Started by this execution (a Flow trigger's upstream, a Subflow's parent).
    trigger_execution_id: str | None = None
    # True: started by another execution (Kestra's childFilter CHILD); False: not (MAIN); None: either.
    child: bool | None = None
    sort: ExecutionSort = ExecutionSort.START_DATE
    descending: bool = True
    paging: Paging = Paging()

    @field_validator("start_date", "end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class LogQuery(BaseModel):
    """Log lines in the order they were written; ``min_level`` keeps that level and the more severe ones."""

    model_config = _QUERY

    execution_id: str | None = None
    taskrun_id: str | None = None
    namespace: str | None = None
    flow_id: str | None = None
    min_level: LogLevel | None = None
    text: str | None = None
    # On the line's timestamp: start_date <= timestamp < end_date.
    start_date: datetime | None = None
    end_date: datetime | None = None
    paging: Paging = Paging(size=MAX_PAGE_SIZE)

    @field_validator("start_date", "end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class FlowQuery(BaseModel):
    """The latest revision of each flow that is not deleted, by namespace then id."""

    model_config = _QUERY

    namespace: str | None = None
    text: str | None = None  # words of the id, namespace or source
    paging: Paging = Paging()


class TriggerQuery(BaseModel):
    model_config = _QUERY

    namespace: str | None = None
    flow_id: str | None = None
    paging: Paging = Paging()


_RECORD = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_alias=True, validate_by_name=True,
                     serialize_by_alias=True)


class TriggerBackfill(BaseModel):
    """A backfill of a schedule: every date from ``start`` to ``end`` runs, in order, one after the other.

    ``current_date`` is the next date to run; ``created`` names this backfill in the ids of its
    executions (a backfill deleted and started again runs its dates again).
    """

    model_config = _RECORD

    start: datetime
    end: datetime
    current_date: datetime
    created: datetime
    paused: bool = False
    inputs: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class TriggerRecord(BaseModel):
    """A value of the triggers topic (key: the trigger uid ``namespace/flowId/triggerId``), in Kestra's shape."""

    model_config = _RECORD

    namespace: str
    flow_id: str
    trigger_id: str
    date: datetime | None = None
    next_execution_date: datetime | None = None
    execution_id: str | None = None
    disabled: bool = False
    # Bumped by the scheduler on each change; an older state never replaces a newer one.
    version: int = 0
    backfill: TriggerBackfill | None = None
    # Set while a polling trigger is being evaluated (a lock); cleared after, or by `unlock`.
    evaluate_running_date: datetime | None = None
    updated_date: datetime | None = None

    @property
    def uid(self) -> str:
        return f"{self.namespace}/{self.flow_id}/{self.trigger_id}"


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(frozen=True)

    items: list[T]
    total: int
    page: int
    size: int


class HistogramBucket(BaseModel):
    """Executions started in one interval (from ``start``), by state, with the durations of the ended ones."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    counts: dict[StateType, int] = Field(default_factory=dict)
    ended: int = 0  # executions with a duration: those the sums below are over
    duration_min: float | None = None  # seconds
    duration_max: float | None = None
    duration_sum: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class FlowCount(BaseModel):
    """Executions of one flow, by state."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    flow_id: str
    counts: dict[StateType, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class IndexedLog:
    """A log line with a stable id (so redelivery rewrites the same document) and its order of arrival."""

    entry: LogEntry
    id: str
    seq: int


@dataclass
class IndexBatch:
    """Documents to write at once. ``version`` grows with each snapshot of one execution or trigger."""

    executions: list[tuple[Execution, int]] = field(default_factory=list)
    logs: list[IndexedLog] = field(default_factory=list)
    flows: list[FlowRecord] = field(default_factory=list)
    triggers: list[TriggerRecord] = field(default_factory=list)
    # Removed with their log lines after the documents above are written.
    deleted_executions: list[str] = field(default_factory=list)
    # Log lines deleted (PurgeLogs), after the lines above are written: a line buffered before goes too.
    purged_logs: list[LogPurge] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.executions) + len(self.logs) + len(self.flows) + len(self.triggers)
                + len(self.deleted_executions) + len(self.purged_logs))


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, as Kestra's API does."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
