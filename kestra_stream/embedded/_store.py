"""The embedded backend's SQLite file: event log, states, timers, worker jobs, outbox, logs, flows.

One connection, WAL journal. Everything the fold decides is written in the same transaction
as the mark that its event was applied, so a process killed at any point restarts from a
consistent file: unapplied events are folded again, pending jobs re-run, timers re-armed and
commands left in the outbox by an earlier version carried out (each of them idempotent).
Events, states and jobs are the versioned records of executor/wire.py, as on Kafka.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kestra_stream.executor.commands import COMMAND_ADAPTER, Command, ScheduleTimer
from kestra_stream.executor.events import Event
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.plan import Effects
from kestra_stream.executor.wire import EVENTS, JOBS, STATES
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.search import CountQuery, FlowExecutions, LogPurge

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
  namespace TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL, source TEXT NOT NULL,
  PRIMARY KEY (namespace, id, revision));
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL, body TEXT NOT NULL,
  applied INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS events_pending ON events (applied, seq);
CREATE TABLE IF NOT EXISTS executions (
  id TEXT PRIMARY KEY, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, state TEXT NOT NULL,
  finished INTEGER NOT NULL, created TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS executions_flow ON executions (namespace, flow_id, state, created);
CREATE TABLE IF NOT EXISTS timers (
  timer_id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, fire_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL, taskrun_id TEXT, level TEXT NOT NULL,
  timestamp TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_execution ON logs (execution_id, id);
"""


@dataclass(frozen=True)
class Fold:
    """One folded event and what its decision writes."""

    seq: int | None  # the event's row in the event log; None: not written yet, it is written with its fold
    event: Event
    state: ExecutionState | None
    changed: bool
    effects: Effects
    done_job: str | None  # the job whose result ``event`` is, done with
    events: list[Event]  # new events to append, not applied yet


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ----- flows -----------------------------------------------------------------------------
    def flow_sources(self) -> list[tuple[str, str, int, str]]:
        return list(self._db.execute("SELECT namespace, id, revision, source FROM flows ORDER BY revision"))

    def save_flow(self, namespace: str, flow_id: str, revision: int, source: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO flows VALUES (?, ?, ?, ?)", (namespace, flow_id, revision, source))

    # ----- events ----------------------------------------------------------------------------
    def append_event(self, event: Event, *, conn: sqlite3.Connection | None = None) -> int:
        cursor = (conn or self._db).execute(
            "INSERT INTO events (execution_id, body) VALUES (?, ?)",
            (event.execution_id, EVENTS.encode(event).decode()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending_events(self) -> list[tuple[int, Event]]:
        rows = self._db.execute("SELECT seq, body FROM events WHERE applied = 0 ORDER BY seq")
        return [(seq, EVENTS.decode(body)) for seq, body in rows]

    def events_of(self, execution_id: str) -> list[Event]:
        rows = self._db.execute("SELECT body FROM events WHERE execution_id = ? ORDER BY seq", (execution_id,))
        return [EVENTS.decode(body) for (body,) in rows]

    # ----- applying a fold -------------------------------------------------------------------
    def apply(self, folds: Sequence[Fold], logs: Sequence[LogEntry] = ()) -> list[list[int]]:
        """Persist folded events with their effects, and task log lines, in one transaction.

        Returns, per fold, the sequence numbers of its ``events``, appended. The lines go first: those of an
        attempt were emitted before its result, which one of ``folds`` may be.
        """
        # An execution folded several times in a batch is stored as the last fold left it (encoded once).
        last = {fold.state.execution.id: i for i, fold in enumerate(folds) if fold.state is not None and fold.changed}
        with self.transaction() as db:
            self._insert_logs(db, logs)
            return [self._apply(db, fold, fold.state is not None and last.get(fold.state.execution.id) == i)
                    for i, fold in enumerate(folds)]

    def _apply(self, db: sqlite3.Connection, fold: Fold, store_state: bool) -> list[int]:
        if fold.seq is None:  # not in the event log yet: it enters it applied, with its fold
            db.execute("INSERT INTO events (execution_id, body, applied) VALUES (?, ?, 1)",
                       (fold.event.execution_id, EVENTS.encode(fold.event).decode()))
        else:
            db.execute("UPDATE events SET applied = 1 WHERE seq = ?", (fold.seq,))
        state, effects = fold.state, fold.effects
        if state is not None and store_state:
            ex = state.execution
            db.execute("INSERT OR REPLACE INTO executions VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (ex.id, ex.namespace, ex.flow_id, ex.state.current.value, int(state.finished),
                        ex.state.start_date.isoformat(), STATES.encode(state).decode()))
        if fold.done_job is not None:
            db.execute("DELETE FROM jobs WHERE job_id = ?", (fold.done_job,))
        db.executemany("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
                       [(job.job_id, job.execution_id, JOBS.encode(job).decode()) for job in effects.jobs])
        db.executemany("INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?)",
                       [(t.timer_id, t.execution_id, t.fire_at.isoformat(), t.model_dump_json())
                        for t in effects.schedule])
        db.executemany("DELETE FROM timers WHERE timer_id = ?", [(t,) for t in effects.cancel])
        self._insert_logs(db, effects.logs)
        return [self.append_event(e, conn=db) for e in fold.events]

    def fire_timer(self, timer_id: str, event: Event) -> int | None:
        """Swap a due timer for its event, atomically; None when the timer is gone (cancelled)."""
        with self.transaction() as db:
            if db.execute("DELETE FROM timers WHERE timer_id = ?", (timer_id,)).rowcount == 0:
                return None
            return self.append_event(event, conn=db)

    def complete_outbox(self, outbox_id: int, events: list[Event]) -> list[int]:
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
            return [self.append_event(e, conn=db) for e in events]

    def outbox(self) -> list[tuple[int, Command]]:
        rows = self._db.execute("SELECT id, body FROM outbox ORDER BY id")
        return [(i, COMMAND_ADAPTER.validate_json(body)) for i, body in rows]

    def timers(self) -> list[ScheduleTimer]:
        return [ScheduleTimer.model_validate_json(b) for (b,) in self._db.execute("SELECT body FROM timers")]

    def jobs(self) -> list[str]:
        return [b for (b,) in self._db.execute("SELECT body FROM jobs")]

    # ----- executions ------------------------------------------------------------------------
    def load_state(self, execution_id: str) -> ExecutionState | None:
        row = self._db.execute("SELECT body FROM executions WHERE id = ?", (execution_id,)).fetchone()
        return STATES.decode(row[0]) if row else None

    def delete_execution(self, execution_id: str) -> bool:
        """Remove an execution with its events, logs, timers and jobs; False when there was none."""
        with self.transaction() as db:
            found = db.execute("DELETE FROM executions WHERE id = ?", (execution_id,)).rowcount > 0
            for table in ("events", "logs", "timers", "jobs"):
                db.execute(f"DELETE FROM {table} WHERE execution_id = ?", (execution_id,))
        return found

    def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        """Executions per flow that ``query`` covers, by namespace then flow id (flows with none left out)."""
        namespaces = sorted({namespace for namespace, _ in query.flows} | set(query.namespaces))
        rows = self._db.execute("SELECT namespace, flow_id, state, created FROM executions WHERE namespace IN "
                                f"({', '.join('?' * len(namespaces))})", namespaces) if namespaces else []
        counts = Counter((namespace, flow_id) for namespace, flow_id, state, created in rows
                         if query.covers(namespace, flow_id, StateType(state), parse_time(created)))
        return [FlowExecutions(namespace, flow_id, n) for (namespace, flow_id), n in sorted(counts.items())]

    def ended_executions(self, namespace: str | None) -> list[Execution]:
        """The ended executions of ``namespace`` and below it (all when None)."""
        sql, params = "SELECT body FROM executions WHERE finished = 1", []
        if namespace is not None:
            sql += " AND (namespace = ? OR substr(namespace, 1, ?) = ?)"
            params += [namespace, len(namespace) + 1, namespace + "."]
        return [STATES.decode(body).execution for (body,) in self._db.execute(sql, params).fetchall()]

    def unfinished_executions(self) -> list[str]:
        """Ids of the executions still going on, oldest first (the order they were queued in)."""
        return [i for (i,) in self._db.execute("SELECT id FROM executions WHERE finished = 0 ORDER BY created")]

    # ----- logs ------------------------------------------------------------------------------
    def _insert_logs(self, db: sqlite3.Connection, logs: Sequence[LogEntry]) -> None:
        db.executemany("INSERT INTO logs (execution_id, taskrun_id, level, timestamp, body) VALUES (?, ?, ?, ?, ?)",
                       [(e.execution_id, e.taskrun_id, e.level.value, e.timestamp.isoformat(),
                         e.model_dump_json()) for e in logs])

    def add_logs(self, logs: list[LogEntry]) -> None:
        with self.transaction() as db:
            self._insert_logs(db, logs)

    def delete_logs(self, purge: LogPurge) -> int:
        """Delete the log lines ``purge`` covers; returns how many."""
        sql, params = "SELECT id, body FROM logs", []
        if purge.execution_id is not None:
            sql, params = f"{sql} WHERE execution_id = ?", [purge.execution_id]
        if purge.levels is not None:
            sql += f" {'AND' if params else 'WHERE'} level IN ({', '.join('?' * len(purge.levels))})"
            params += sorted(level.value for level in purge.levels)
        doomed = [(row_id,) for row_id, body in self._db.execute(sql, params).fetchall()
                  if purge.covers(LogEntry.model_validate_json(body))]
        with self.transaction() as db:
            db.executemany("DELETE FROM logs WHERE id = ?", doomed)
        return len(doomed)

    def logs(self, execution_id: str) -> list[LogEntry]:
        rows = self._db.execute("SELECT body FROM logs WHERE execution_id = ? ORDER BY id", (execution_id,))
        return [LogEntry.model_validate_json(b) for (b,) in rows]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)
