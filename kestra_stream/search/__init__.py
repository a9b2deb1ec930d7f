"""Searching executions, logs, flows and triggers: one interface, on Elasticsearch or SQLite FTS5."""

from kestra_stream.search._elasticsearch import ElasticsearchRepository
from kestra_stream.search._intervals import Interval, fill, interval_for
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
    "ElasticsearchRepository",
    "ExecutionQuery",
    "ExecutionSort",
    "FlowCount",
    "FlowQuery",
    "HistogramBucket",
    "IndexBatch",
    "IndexedLog",
    "Interval",
    "LogQuery",
    "Page",
    "Paging",
    "SearchRepository",
    "SqliteRepository",
    "TriggerBackfill",
    "TriggerQuery",
    "TriggerRecord",
    "fill",
    "interval_for",
]
