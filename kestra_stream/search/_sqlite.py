"""Search on SQLite with FTS5, for the embedded backend: the same queries as on Elasticsearch.

A database of its own (not the engine's), so searches never wait on the executor's transactions.
Each searchable table has an FTS5 twin whose rowid is the row's rowid; the words indexed are the
ones Elasticsearch gets (``words``), cut the same way, so a text query finds the same documents.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from kestra_stream.errors import BackendError
from kestra_stream.flows.record import FlowRecord
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.search._documents import (
    duration_seconds,
    end_date,
    execution_text,
    iso,
    levels_at_least,
    start_date,
    words,
)
from kestra_stream.search._history import LogPurge
from kestra_stream.search._intervals import Interval
from kestra_stream.search._models import (
    ExecutionQuery,
    ExecutionSort,
    FlowCount,
    FlowQuery,
    HistogramBucket,
    IndexBatch,
    IndexedLog,
    LogQuery,
    Page,
    TriggerQuery,
    TriggerRecord,
)

log = structlog.get_logger(__name__)

_FTS = "USING fts5(text, tokenize = \"unicode61 tokenchars '_'\")"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS executions (
    id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, state TEXT NOT NULL,
    start_date TEXT, end_date TEXT, duration REAL, version INTEGER NOT NULL, body TEXT NOT NULL,
    triggered_by TEXT, trigger_execution_id TEXT);
CREATE INDEX IF NOT EXISTS executions_namespace ON executions (namespace, flow_id);
-- Covering the filters most queries combine, so a page and its count are found in the index alone.
CREATE INDEX IF NOT EXISTS executions_start ON executions (start_date, namespace, state, flow_id, id);
CREATE TABLE IF NOT EXISTS execution_labels (
    execution_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (execution_id, key));
CREATE INDEX IF NOT EXISTS execution_labels_pair ON execution_labels (key, value);
CREATE VIRTUAL TABLE IF NOT EXISTS execution_text {_FTS};
CREATE TABLE IF NOT EXISTS logs (
    id TEXT NOT NULL UNIQUE, execution_id TEXT NOT NULL, taskrun_id TEXT, namespace TEXT NOT NULL,
    level TEXT NOT NULL, timestamp TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_execution ON logs (execution_id, timestamp, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS log_text {_FTS};
CREATE TABLE IF NOT EXISTS flows (
    key TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL, body TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS flow_text {_FTS};
CREATE TABLE IF NOT EXISTS triggers (
    uid TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, trigger_id TEXT NOT NULL,
    version INTEGER NOT NULL, body TEXT NOT NULL);
-- Executions deleted at a version: an older snapshot written later must not bring one back.
CREATE TABLE IF NOT EXISTS deleted_executions (id TEXT NOT NULL UNIQUE, version INTEGER NOT NULL);
"""
# Run after _SCHEMA and _ADDED_COLUMNS: on the columns a database of an older version gets from the latter.
_LATER_INDICES = """
CREATE INDEX IF NOT EXISTS executions_triggered_by ON executions (triggered_by, start_date);
CREATE INDEX IF NOT EXISTS executions_trigger_execution ON executions (trigger_execution_id);
"""
# Columns added since the first version, each filled from the execution every row keeps.
_ADDED_COLUMNS = ("triggered_by", "trigger_execution_id")
# The start of an execution's interval, as ISO text, from its start date ("2026-03-01T08:05:09.000000Z").
_INTERVAL_STARTS = {
    Interval.MINUTE: "substr(start_date, 1, 16)", Interval.HOUR: "substr(start_date, 1, 13) || ':00'",
    Interval.DAY: "substr(start_date, 1, 10)",
    # Back to Monday: SQLite's 'weekday 0' moves forward to a Sunday (or stays on one).
    Interval.WEEK: "date(substr(start_date, 1, 10), 'weekday 0', '-6 days')",
    Interval.MONTH: "substr(start_date, 1, 7) || '-01'",
}
_SORT_COLUMNS = {
    ExecutionSort.START_DATE: "start_date", ExecutionSort.END_DATE: "end_date",
    ExecutionSort.DURATION: "duration", ExecutionSort.ID: "id", ExecutionSort.NAMESPACE: "namespace",
    ExecutionSort.FLOW_ID: "flow_id", ExecutionSort.STATE: "state",
}


class _Where:
    """A WHERE clause built filter by filter, with its parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def namespace(self, namespace: str | None, column: str = "namespace") -> None:
        # The children of "a.b" sort between "a.b." and "a.b/" ("/" follows "." in ASCII): an index range.
        if namespace is not None:
            self.add(f"({column} = ? OR ({column} >= ? AND {column} < ?))", namespace, namespace + ".",
                     namespace + "/")

    def text(self, text: str | None, fts_table: str, rowid: str = "rowid") -> None:
        found = words(text or "")
        if found:
            self.add(f"{rowid} IN (SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH ?)",
                     " ".join(f'"{w}"' for w in found))

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


class SqliteRepository:
    """``SearchRepository`` on SQLite FTS5 (``path`` may be ``:memory:``); thread safe."""

    def __init__(self, path: Path | str) -> None:
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _add_columns(self._db)
            self._db.executescript(_LATER_INDICES)
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open the search database {path}: {exc}; SQLite must have FTS5") from exc
        self._lock = threading.Lock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----- writing -----------------------------------------------------------------------------
    def write(self, batch: IndexBatch) -> None:
        try:
            with self._transaction() as db:
                for execution, version in batch.executions:
                    _write_execution(db, execution, version)
                for item in batch.logs:
                    _write_log(db, item)
                for flow in batch.flows:
                    _write_flow(db, flow)
                for trigger in batch.triggers:
                    db.execute(
                        "INSERT INTO triggers VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
                        "version = excluded.version, body = excluded.body WHERE excluded.version >= triggers.version",
                        (trigger.uid, trigger.namespace, trigger.flow_id, trigger.trigger_id, trigger.version,
                         trigger.model_dump_json()))
                for execution_id in batch.deleted_executions:
                    _delete_execution(db, execution_id)
                for purge in batch.purged_logs:
                    _delete_logs(db, purge)
        except sqlite3.Error as exc:
            raise BackendError(f"writing {len(batch)} documents to the search database failed: {exc}") from exc

    def delete_execution(self, execution_id: str, *, version: int | None = None) -> None:
        try:
            with self._transaction() as db:
                _delete_execution(db, execution_id)
                if version is not None:
                    db.execute("INSERT INTO deleted_executions VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                               "version = max(version, excluded.version)", (execution_id, version))
        except sqlite3.Error as exc:
            raise BackendError(f"deleting execution '{execution_id}' from the search database failed: {exc}") from exc

    def refresh(self) -> None:
        """Writes are visible once committed."""

    # ----- reading -----------------------------------------------------------------------------
    def search_executions(self, query: ExecutionQuery) -> Page[Execution]:
        where = _execution_where(query)
        column = _SORT_COLUMNS[query.sort]
        order = "DESC" if query.descending else "ASC"
        # The page is sorted on narrow rows first; only its own bodies (kilobytes each) are read after.
        rowids = [r[0] for r in self._rows(
            f"SELECT rowid FROM executions{where.sql()} ORDER BY {column} IS NULL, {column} {order}, id {order} "
            "LIMIT ? OFFSET ?", [*where.params, query.paging.size, query.paging.offset])]
        bodies = dict(self._rows(f"SELECT rowid, body FROM executions WHERE rowid IN ({', '.join('?' * len(rowids))})",
                                 rowids)) if rowids else {}
        total = self._rows(f"SELECT count(*) FROM executions{where.sql()}", where.params)[0][0]
        return Page(items=[Execution.model_validate_json(bodies[r]) for r in rowids], total=total,
                    page=query.paging.page, size=query.paging.size)

    def count_by_state(self, query: ExecutionQuery) -> dict[StateType, int]:
        where = _execution_where(query)
        rows = self._rows(f"SELECT state, count(*) FROM executions{where.sql()} GROUP BY state", where.params)
        return {StateType(state): count for state, count in rows}

    def histogram(self, query: ExecutionQuery, interval: Interval) -> list[HistogramBucket]:
        where = _execution_where(query)
        where.add("start_date IS NOT NULL")
        rows = self._rows(
            f"SELECT {_INTERVAL_STARTS[interval]} AS bucket, state, count(*), count(duration), min(duration), "
            f"max(duration), total(duration) FROM executions{where.sql()} GROUP BY bucket, state ORDER BY bucket",
            where.params)
        buckets: list[HistogramBucket] = []
        for bucket, group in itertools.groupby(rows, key=lambda row: row[0]):
            parts = list(group)
            minimums = [p[4] for p in parts if p[4] is not None]
            maximums = [p[5] for p in parts if p[5] is not None]
            buckets.append(HistogramBucket(
                start=datetime.fromisoformat(bucket).replace(tzinfo=UTC),
                counts={StateType(p[1]): p[2] for p in parts}, ended=sum(p[3] for p in parts),
                duration_min=min(minimums, default=None), duration_max=max(maximums, default=None),
                duration_sum=sum(p[6] for p in parts)))
        return buckets

    def count_by_flow(self, query: ExecutionQuery) -> list[FlowCount]:
        where = _execution_where(query)
        rows = self._rows(f"SELECT namespace, flow_id, state, count(*) FROM executions{where.sql()} "
                          "GROUP BY namespace, flow_id, state ORDER BY namespace, flow_id", where.params)
        return [FlowCount(namespace=namespace, flow_id=flow_id, counts={StateType(r[2]): r[3] for r in group})
                for (namespace, flow_id), group in itertools.groupby(rows, key=lambda row: (row[0], row[1]))]

    def search_logs(self, query: LogQuery) -> Page[LogEntry]:
        where = _Where()
        if query.execution_id is not None:
            where.add("execution_id = ?", query.execution_id)
        if query.taskrun_id is not None:
            where.add("taskrun_id = ?", query.taskrun_id)
        where.namespace(query.namespace)
        if query.flow_id is not None:
            where.add("json_extract(body, '$.flowId') = ?", query.flow_id)
        if query.min_level is not None:
            levels = levels_at_least(query.min_level)
            where.add(f"level IN ({', '.join('?' * len(levels))})", *levels)
        if query.start_date is not None:
            where.add("timestamp >= ?", iso(query.start_date))
        if query.end_date is not None:
            where.add("timestamp < ?", iso(query.end_date))
        where.text(query.text, "log_text")
        rows = self._rows(f"SELECT body FROM logs{where.sql()} ORDER BY timestamp, seq LIMIT ? OFFSET ?",
                          [*where.params, query.paging.size, query.paging.offset])
        total = self._rows(f"SELECT count(*) FROM logs{where.sql()}", where.params)[0][0]
        return Page(items=[LogEntry.model_validate_json(r[0]) for r in rows], total=total,
                    page=query.paging.page, size=query.paging.size)

    def search_flows(self, query: FlowQuery) -> Page[FlowRecord]:
        where = _Where()
        where.add("deleted = 0")
        where.namespace(query.namespace)
        where.text(query.text, "flow_text")
        rows = self._rows(f"SELECT body FROM flows{where.sql()} ORDER BY namespace, id LIMIT ? OFFSET ?",
                          [*where.params, query.paging.size, query.paging.offset])
        total = self._rows(f"SELECT count(*) FROM flows{where.sql()}", where.params)[0][0]
        return Page(items=[FlowRecord.model_validate_json(r[0]) for r in rows], total=total,
                    page=query.paging.page, size=query.paging.size)

    def search_triggers(self, query: TriggerQuery) -> Page[TriggerRecord]:
        where = _Where()
        where.namespace(query.namespace)
        if query.flow_id is not None:
            where.add("flow_id = ?", query.flow_id)
        rows = self._rows(f"SELECT body FROM triggers{where.sql()} ORDER BY namespace, flow_id, trigger_id "
                          "LIMIT ? OFFSET ?", [*where.params, query.paging.size, query.paging.offset])
        total = self._rows(f"SELECT count(*) FROM triggers{where.sql()}", where.params)[0][0]
        return Page(items=[TriggerRecord.model_validate_json(r[0]) for r in rows], total=total,
                    page=query.paging.page, size=query.paging.size)

    def flow_namespaces(self, text: str | None = None) -> list[str]:
        where = _Where()
        where.add("deleted = 0")
        if text:
            where.add("instr(namespace, ?) > 0", text)
        return [r[0] for r in self._rows(f"SELECT DISTINCT namespace FROM flows{where.sql()} ORDER BY namespace",
                                         where.params)]

    def latest_executions(self, namespace: str | None = None,
                          flows: Sequence[tuple[str, str]] = ()) -> list[Execution]:
        where = _Where()
        where.namespace(namespace)
        if flows:
            where.add(f"(namespace, flow_id) IN (VALUES {', '.join('(?, ?)' for _ in flows)})",
                      *(part for pair in flows for part in pair))
        # Ranked on the narrow columns; only the winners' bodies are read.
        rows = self._rows(
            "SELECT body FROM executions WHERE rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER "
            "(PARTITION BY namespace, flow_id ORDER BY start_date IS NULL, start_date DESC, id DESC) AS n "
            f"FROM executions{where.sql()}) WHERE n = 1) ORDER BY namespace, flow_id", where.params)
        return [Execution.model_validate_json(r[0]) for r in rows]

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise BackendError(f"search query failed on the search database: {exc} ({sql})") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _execution_where(query: ExecutionQuery) -> _Where:
    where = _Where()
    if query.exact_namespace and query.namespace is not None:
        where.add("namespace = ?", query.namespace)
    else:
        where.namespace(query.namespace)
    if query.flow_id is not None:
        where.add("flow_id = ?", query.flow_id)
    if query.states:
        where.add(f"state IN ({', '.join('?' * len(query.states))})", *(s.value for s in query.states))
    for key, value in query.labels.items():
        where.add("id IN (SELECT execution_id FROM execution_labels WHERE key = ? AND value = ?)", key, value)
    if query.triggered_by:
        where.add(f"triggered_by IN ({', '.join('?' * len(query.triggered_by))})",
                  *(t.value for t in query.triggered_by))
    if query.trigger_execution_id is not None:
        where.add("trigger_execution_id = ?", query.trigger_execution_id)
    if query.child is not None:
        where.add(f"trigger_execution_id IS {'NOT ' if query.child else ''}NULL")
    if query.start_date is not None:
        where.add("start_date >= ?", iso(query.start_date))
    if query.end_date is not None:
        where.add("start_date < ?", iso(query.end_date))
    where.text(query.text, "execution_text")
    return where


def _add_columns(db: sqlite3.Connection) -> None:
    """Bring a database of an older version to the columns of this one, in one transaction."""
    present = {row[1] for row in db.execute("PRAGMA table_info(executions)")}
    missing = [column for column in _ADDED_COLUMNS if column not in present]
    if not missing:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for column in missing:
            db.execute(f"ALTER TABLE executions ADD COLUMN {column} TEXT")
        rows = db.execute("SELECT rowid, body FROM executions").fetchall()
        filled = [(e.triggered_by.value, e.trigger_execution_id, rowid)
                  for rowid, e in ((r[0], Execution.model_validate_json(r[1])) for r in rows)]
        db.executemany("UPDATE executions SET triggered_by = ?, trigger_execution_id = ? WHERE rowid = ?", filled)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    log.info("search_database_migrated", added=missing, executions=len(filled))


def _write_execution(db: sqlite3.Connection, execution: Execution, version: int) -> None:
    if db.execute("SELECT 1 FROM deleted_executions WHERE id = ? AND version >= ?", (execution.id, version)).fetchone():
        return  # deleted after this snapshot
    start, end = start_date(execution), end_date(execution)
    changed = db.execute(
        "INSERT INTO executions (id, namespace, flow_id, state, start_date, end_date, duration, version, body, "
        "triggered_by, trigger_execution_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "state = excluded.state, start_date = excluded.start_date, end_date = excluded.end_date, "
        "duration = excluded.duration, version = excluded.version, body = excluded.body, "
        "namespace = excluded.namespace, flow_id = excluded.flow_id, triggered_by = excluded.triggered_by, "
        "trigger_execution_id = excluded.trigger_execution_id "
        "WHERE excluded.version > executions.version",
        (execution.id, execution.namespace, execution.flow_id, execution.state.current.value,
         iso(start) if start else None, iso(end) if end else None, duration_seconds(execution), version,
         execution.model_dump_json(), execution.triggered_by.value, execution.trigger_execution_id)).rowcount
    if not changed:
        return  # this version or a newer one is already there
    rowid = db.execute("SELECT rowid FROM executions WHERE id = ?", (execution.id,)).fetchone()[0]
    db.execute("DELETE FROM execution_labels WHERE execution_id = ?", (execution.id,))
    db.executemany("INSERT INTO execution_labels VALUES (?, ?, ?)",
                   [(execution.id, k, v) for k, v in execution.labels.items()])
    db.execute("DELETE FROM execution_text WHERE rowid = ?", (rowid,))
    db.execute("INSERT INTO execution_text (rowid, text) VALUES (?, ?)", (rowid, execution_text(execution)))


def _delete_execution(db: sqlite3.Connection, execution_id: str) -> None:
    row = db.execute("SELECT rowid FROM executions WHERE id = ?", (execution_id,)).fetchone()
    if row is not None:
        db.execute("DELETE FROM execution_text WHERE rowid = ?", (row[0],))
    db.execute("DELETE FROM executions WHERE id = ?", (execution_id,))
    db.execute("DELETE FROM execution_labels WHERE execution_id = ?", (execution_id,))
    db.execute("DELETE FROM log_text WHERE rowid IN (SELECT rowid FROM logs WHERE execution_id = ?)", (execution_id,))
    db.execute("DELETE FROM logs WHERE execution_id = ?", (execution_id,))


def _delete_logs(db: sqlite3.Connection, purge: LogPurge) -> int:
    where = _Where()
    if purge.execution_id is not None:
        where.add("execution_id = ?", purge.execution_id)
    if purge.namespace is not None and purge.flow_id is None:
        where.namespace(purge.namespace)
    elif purge.namespace is not None:
        where.add("namespace = ?", purge.namespace)
    if purge.levels is not None:
        where.add(f"level IN ({', '.join('?' * len(purge.levels))})", *sorted(lv.value for lv in purge.levels))
    if purge.start_date is not None:
        where.add("timestamp >= ?", iso(purge.start_date))
    if purge.end_date is not None:
        where.add("timestamp <= ?", iso(purge.end_date))
    # The flow id is in the body only: the lines are picked by ``covers``, the one rule.
    doomed = [(rowid,) for rowid, body in db.execute(f"SELECT rowid, body FROM logs{where.sql()}", where.params)
              if purge.covers(LogEntry.model_validate_json(body))]
    db.executemany("DELETE FROM log_text WHERE rowid = ?", doomed)
    db.executemany("DELETE FROM logs WHERE rowid = ?", doomed)
    return len(doomed)


def _write_log(db: sqlite3.Connection, item: IndexedLog) -> None:
    entry = item.entry
    cursor = db.execute(
        "INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (item.id, entry.execution_id, entry.taskrun_id, entry.namespace, entry.level.value, iso(entry.timestamp),
         item.seq, entry.model_dump_json()))
    if cursor.rowcount:
        db.execute("INSERT INTO log_text (rowid, text) VALUES (?, ?)",
                   (cursor.lastrowid, " ".join(words(entry.message))))


def _write_flow(db: sqlite3.Connection, flow: FlowRecord) -> None:
    key = f"{flow.namespace}/{flow.id}"
    changed = db.execute(
        "INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET revision = excluded.revision, "
        "deleted = excluded.deleted, body = excluded.body WHERE excluded.revision >= flows.revision",
        (key, flow.namespace, flow.id, flow.revision, int(flow.deleted), flow.model_dump_json())).rowcount
    if changed:
        rowid = db.execute("SELECT rowid FROM flows WHERE key = ?", (key,)).fetchone()[0]
        db.execute("DELETE FROM flow_text WHERE rowid = ?", (rowid,))
        db.execute("INSERT INTO flow_text (rowid, text) VALUES (?, ?)",
                   (rowid, " ".join(words(f"{flow.namespace} {flow.id} {flow.source}"))))


