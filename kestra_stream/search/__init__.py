"""Searching executions, logs, flows and triggers: one interface, on Elasticsearch or SQLite FTS5.

``ElasticsearchRepository`` is imported on first use: the embedded engine reads this package's
models and must not pay for the Elasticsearch client's import.
"""

from __future__ import annotations

import importlib
import typing

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
from kestra_stream.search._repository import SearchRepository, execution_logs
from kestra_stream.search._sqlite import SqliteRepository

if typing.TYPE_CHECKING:
    from kestra_stream.search._elasticsearch import ElasticsearchRepository


def __getattr__(name: str) -> object:
    if name != "ElasticsearchRepository":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module("kestra_stream.search._elasticsearch").ElasticsearchRepository
    globals()[name] = value
    return value


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
    "execution_logs",
    "fill",
    "in_namespace",
    "interval_for",
    "intervals",
]
