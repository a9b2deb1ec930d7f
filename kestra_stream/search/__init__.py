"""Searching executions, logs, flows and triggers: one interface, on Elasticsearch or SQLite FTS5."""

from kestra_stream.search._elasticsearch import ElasticsearchRepository
from kestra_stream.search._history import (
    CountQuery,
    ExecutionPurge,
    FlowExecutions,
    LogPurge,
    Purged,
    in_namespace,
)
from kestra_stream.search._intervals import Interval, fill, interval_for, intervals
from kestra_stream.search._models import (
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    ExecutionQuery,
    ExecutionSort,
    FlowCount,
    FlowQuery,
    HistogramBucket,
    IndexBatch,
    IndexedLog,
    LogQuery,
    Page,
    Paging,
    TriggerBackfill,
    TriggerQuery,
    TriggerRecord,
)
from kestra_stream.search._repository import SearchRepository
from kestra_stream.search._sqlite import SqliteRepository

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_RESULT_WINDOW",
    "CountQuery",
    "ElasticsearchRepository",
    "ExecutionPurge",
    "ExecutionQuery",
    "ExecutionSort",
    "FlowCount",
    "FlowExecutions",
    "FlowQuery",
    "HistogramBucket",
    "IndexBatch",
    "IndexedLog",
    "Interval",
    "LogPurge",
    "LogQuery",
    "Page",
    "Paging",
    "Purged",
    "SearchRepository",
    "SqliteRepository",
    "TriggerBackfill",
    "TriggerQuery",
    "TriggerRecord",
    "fill",
    "in_namespace",
    "interval_for",
    "intervals",
]
