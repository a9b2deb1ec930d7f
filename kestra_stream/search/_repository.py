"""The one interface the API reads executions, logs, flows and triggers through.

Two implementations: ``ElasticsearchRepository`` (production backend, fed by the Kafka indexer)
and ``SqliteRepository`` (embedded backend, SQLite FTS5). The API never knows which one it has.
Calls are synchronous and short; an async caller runs them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from kestra_stream.flows.record import FlowRecord
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.search._intervals import Interval
from kestra_stream.search._models import (
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    ExecutionQuery,
    FlowCount,
    FlowQuery,
    HistogramBucket,
    IndexBatch,
    LogQuery,
    Page,
    Paging,
    TriggerQuery,
    TriggerRecord,
)


@runtime_checkable
class SearchRepository(Protocol):
    def write(self, batch: IndexBatch) -> None:
        """Write every document of ``batch``; a document never replaces a newer version of itself.

        Raises BackendError when the store is unreachable or refused a document; writing the same
        batch again is harmless, so the caller retries.
        """
        ...

    def delete_execution(self, execution_id: str, *, version: int | None = None) -> None:
        """Remove an execution and its log lines (a deleted execution); nothing to remove is no error.

        With a ``version`` (``Backend.delete_execution``'s), a snapshot of the execution older than it,
        written afterwards by an indexer that lags, does not bring the execution back.
        """
        ...

    def refresh(self) -> None:
        """Make every write so far visible to searches."""
        ...

    def search_executions(self, query: ExecutionQuery) -> Page[Execution]: ...

    def count_by_state(self, query: ExecutionQuery) -> dict[StateType, int]:
        """Executions matching ``query`` (its sort and paging ignored) per current state."""
        ...

    def histogram(self, query: ExecutionQuery, interval: Interval) -> list[HistogramBucket]:
        """Executions matching ``query`` per ``interval`` of their start (UTC), by state, with their durations.

        Oldest interval first; intervals without an execution are left out (``fill`` adds them).
        """
        ...

    def count_by_flow(self, query: ExecutionQuery) -> list[FlowCount]:
        """Executions matching ``query`` per flow, by state, by namespace then flow id; flows without one left out."""
        ...

    def search_logs(self, query: LogQuery) -> Page[LogEntry]: ...

    def search_flows(self, query: FlowQuery) -> Page[FlowRecord]: ...

    def search_triggers(self, query: TriggerQuery) -> Page[TriggerRecord]: ...

    def flow_namespaces(self, text: str | None = None) -> list[str]:
        """The namespaces of the flows that are not deleted, sorted; with ``text``, those containing it."""
        ...

    def latest_executions(self, namespace: str | None = None,
                          flows: Sequence[tuple[str, str]] = ()) -> list[Execution]:
        """The most recently started execution of each flow, by namespace then flow id.

        ``namespace`` keeps the flows of that namespace and the ones below it; ``flows`` (pairs of
        namespace and flow id), when given, only those flows.
        """
        ...

    def close(self) -> None: ...


def execution_logs(repository: SearchRepository, execution_id: str) -> list[LogEntry]:
    """Every indexed line of an execution in the order written (as far as the search window reaches)."""
    lines: list[LogEntry] = []
    page = 1
    while True:
        found = repository.search_logs(LogQuery(execution_id=execution_id,
                                                paging=Paging(page=page, size=MAX_PAGE_SIZE)))
        lines += found.items
        if len(found.items) < MAX_PAGE_SIZE or len(lines) >= found.total or page * MAX_PAGE_SIZE >= MAX_RESULT_WINDOW:
            return lines
        page += 1
