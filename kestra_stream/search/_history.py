"""What tasks ask of the stored history of executions: counts per flow, and purges.

Kestra's ``execution.Count``, ``execution.PurgeExecutions`` and ``log.PurgeLogs`` reach its
repositories; here each backend answers these queries from its own store (the embedded engine's
SQLite file, Elasticsearch on Kafka). Which executions and lines a query covers is decided once,
by the pure ``covers`` methods, with Kestra's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel
from kestra_stream.search._documents import end_date, start_date
from kestra_stream.search._models import as_utc


def in_namespace(namespace: str, wanted: str) -> bool:
    """``namespace`` is ``wanted`` or one of its children."""
    return namespace == wanted or namespace.startswith(wanted + ".")


def _of_flows(namespace: str, flow_id: str, wanted_namespace: str | None, wanted_flow: str | None) -> bool:
    """A purge's flows: flow ``wanted_flow`` of ``wanted_namespace``, or without a flow id that namespace
    and its children (either unset: any)."""
    if wanted_namespace is not None and not (namespace == wanted_namespace if wanted_flow is not None
                                             else in_namespace(namespace, wanted_namespace)):
        return False
    return wanted_flow is None or flow_id == wanted_flow


@dataclass(frozen=True)
class CountQuery:
    """Executions started within [start_date, end_date], in a state of ``states`` (any when None),
    of one of ``flows`` (namespace, flow id) or in one of ``namespaces`` (exactly, not below)."""

    start_date: datetime
    end_date: datetime
    flows: tuple[tuple[str, str], ...] = ()
    namespaces: tuple[str, ...] = ()
    states: frozenset[StateType] | None = None

    def covers(self, namespace: str, flow_id: str, state: StateType, started: datetime) -> bool:
        return ((namespace, flow_id) in self.flows or namespace in self.namespaces) \
            and (self.states is None or state in self.states) \
            and as_utc(self.start_date) <= as_utc(started) <= as_utc(self.end_date)


@dataclass(frozen=True)
class FlowExecutions:
    namespace: str
    flow_id: str
    count: int


@dataclass(frozen=True)
class ExecutionPurge:
    """Ended executions to purge: ended by ``end_date``, started from ``start_date``, in ``states``;
    of flow ``flow_id`` of ``namespace``, or without a flow id, of ``namespace`` and below it.

    ``executions``, ``logs`` and ``storage`` say what goes: the executions, their log lines, their
    files in internal storage.
    """

    end_date: datetime
    start_date: datetime | None = None
    namespace: str | None = None
    flow_id: str | None = None
    states: frozenset[StateType] | None = None
    executions: bool = True
    logs: bool = True
    storage: bool = True

    def covers(self, execution: Execution) -> bool:
        ended, started = end_date(execution), start_date(execution)
        if ended is None or ended > as_utc(self.end_date):
            return False  # still going on: never purged
        if self.start_date is not None and (started is None or started < as_utc(self.start_date)):
            return False
        return _of_flows(execution.namespace, execution.flow_id, self.namespace, self.flow_id) \
            and (self.states is None or execution.state.current in self.states)


@dataclass(frozen=True)
class Purged:
    executions: int = 0
    logs: int = 0
    storage_files: int = 0

    def __add__(self, other: Purged) -> Purged:
        return Purged(self.executions + other.executions, self.logs + other.logs,
                      self.storage_files + other.storage_files)


@dataclass(frozen=True)
class LogPurge:
    """Log lines to delete: written within [start_date, end_date], at a level of ``levels`` (any when
    None); of flow ``flow_id`` of ``namespace``, or without a flow id, of ``namespace`` and below it;
    of execution ``execution_id`` when set (an execution's lines, whatever their date)."""

    end_date: datetime | None = None
    start_date: datetime | None = None
    namespace: str | None = None
    flow_id: str | None = None
    levels: frozenset[LogLevel] | None = None
    execution_id: str | None = None

    @classmethod
    def of_execution(cls, execution_id: str) -> LogPurge:
        return cls(execution_id=execution_id)

    def covers(self, entry: LogEntry) -> bool:
        written = as_utc(entry.timestamp)
        if self.execution_id is not None and entry.execution_id != self.execution_id:
            return False
        if self.end_date is not None and written > as_utc(self.end_date):
            return False
        if self.start_date is not None and written < as_utc(self.start_date):
            return False
        return _of_flows(entry.namespace, entry.flow_id, self.namespace, self.flow_id) \
            and (self.levels is None or entry.level in self.levels)
