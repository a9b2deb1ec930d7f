"""Trigger state: one ``TriggerRecord`` per trigger uid, in SQLite (embedded) or a compacted topic (Kafka).

The API changes a trigger's state through the functions at the end of this module (enable,
disable, unlock, backfills); each returns the record written. Every write bumps ``version``: a
reader that sees two records of one uid keeps the newer one.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kestra_stream.errors import BackendError, NotFoundError, TriggerStateError
from kestra_stream.search import TriggerBackfill, TriggerRecord


class TriggerStore(Protocol):
    """Where trigger state lives; ``put`` returns once the record is durable."""

    def get(self, uid: str) -> TriggerRecord | None: ...
    def list(self, namespace: str | None = None, flow_id: str | None = None) -> builtins.list[TriggerRecord]: ...
    async def put(self, record: TriggerRecord) -> TriggerRecord: ...
    async def delete(self, uid: str) -> None: ...


def split_uid(uid: str) -> tuple[str, str, str]:
    parts = uid.split("/")
    if len(parts) != 3 or not all(parts):
        raise NotFoundError(f"trigger {uid!r} is not a trigger uid: expected 'namespace/flowId/triggerId'")
    return parts[0], parts[1], parts[2]


def empty_record(uid: str) -> TriggerRecord:
    namespace, flow_id, trigger_id = split_uid(uid)
    return TriggerRecord(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id)


def bumped(record: TriggerRecord, now: datetime, **changes: Any) -> TriggerRecord:
    """``record`` with ``changes``, one version further, stamped ``now``."""
    return record.model_copy(update={**changes, "version": record.version + 1, "updated_date": now})


def matches(record: TriggerRecord, namespace: str | None, flow_id: str | None) -> bool:
    in_namespace = namespace is None or record.namespace == namespace or record.namespace.startswith(namespace + ".")
    return in_namespace and (flow_id is None or record.flow_id == flow_id)


# ----- SQLite --------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduler_triggers (
    uid TEXT PRIMARY KEY, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, version INTEGER NOT NULL,
    body TEXT NOT NULL)
"""


class SqliteTriggerStore:
    """Trigger state in its own table of an SQLite database (the embedded engine's, or any file)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open the trigger state database {path}: {exc}") from exc
        self._path = path

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, uid: str) -> TriggerRecord | None:
        rows = self._query("SELECT body FROM scheduler_triggers WHERE uid = ?", (uid,))
        return TriggerRecord.model_validate_json(rows[0][0]) if rows else None

    def list(self, namespace: str | None = None, flow_id: str | None = None) -> builtins.list[TriggerRecord]:
        rows = self._query("SELECT body FROM scheduler_triggers ORDER BY uid", ())
        records = [TriggerRecord.model_validate_json(r[0]) for r in rows]
        return [r for r in records if matches(r, namespace, flow_id)]

    async def put(self, record: TriggerRecord) -> TriggerRecord:
        # A single autocommitted statement with synchronous=FULL: durable when it returns.
        self._query("INSERT INTO scheduler_triggers VALUES (?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
                    "version = excluded.version, body = excluded.body",
                    (record.uid, record.namespace, record.flow_id, record.version, record.model_dump_json()))
        return record

    async def delete(self, uid: str) -> None:
        self._query("DELETE FROM scheduler_triggers WHERE uid = ?", (uid,))

    def _query(self, sql: str, params: tuple[Any, ...]) -> builtins.list[tuple[Any, ...]]:
        try:
            with self._lock:
                return list(self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise BackendError(f"trigger state in {self._path}: {exc}") from exc


def disabled_in(store: TriggerStore) -> Callable[[str], bool]:
    """``disabled(uid)``: whether the trigger was disabled through the API, for the components that fire
    triggers without keeping their state (flow triggers, realtime triggers, webhooks)."""

    def disabled(uid: str) -> bool:
        record = store.get(uid)
        return record is not None and record.disabled

    return disabled


# ----- what the API calls ------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _existing(store: TriggerStore, uid: str) -> TriggerRecord:
    return store.get(uid) or empty_record(uid)


async def set_disabled(store: TriggerStore, uid: str, disabled: bool, *, now: datetime | None = None) -> TriggerRecord:
    """Disable (or enable again) a trigger: a disabled trigger does not fire; enabled again, it goes on
    from where it was, under its ``recoverMissedSchedules``."""
    record = _existing(store, uid)
    return await store.put(bumped(record, now or _now(), disabled=disabled))


async def unlock(store: TriggerStore, uid: str, *, now: datetime | None = None) -> TriggerRecord:
    """Clear a stuck evaluation (a scheduler that stopped while polling the trigger)."""
    record = store.get(uid)
    if record is None:
        raise NotFoundError(f"trigger {uid!r} has no state yet: nothing to unlock")
    return await store.put(bumped(record, now or _now(), evaluate_running_date=None))


@dataclass(frozen=True)
class BackfillRequest:
    start: datetime
    end: datetime | None = None
    inputs: Mapping[str, Any] | None = None
    labels: Mapping[str, str] | None = None


async def start_backfill(store: TriggerStore, uid: str, request: BackfillRequest, *,
                         now: datetime | None = None) -> TriggerRecord:
    """Run every date of the schedule from ``start`` to ``end`` (``now`` when left out), in order."""
    moment = now or _now()
    record = _existing(store, uid)
    if record.backfill is not None:
        raise TriggerStateError(f"trigger {uid!r} already has a backfill from {record.backfill.start.isoformat()}; "
                                f"delete it first to start another", uid=uid)
    start = _aware(request.start)
    end = _aware(request.end) if request.end is not None else moment
    if end < start:
        raise TriggerStateError(f"backfill of trigger {uid!r}: end {end.isoformat()} is before start "
                                f"{start.isoformat()}; give an end after the start", uid=uid)
    backfill = TriggerBackfill(start=start, end=end, current_date=start, created=moment,
                               inputs=dict(request.inputs) if request.inputs else None,
                               labels=dict(request.labels or {}))
    return await store.put(bumped(record, moment, backfill=backfill))


async def pause_backfill(store: TriggerStore, uid: str, paused: bool = True, *,
                         now: datetime | None = None) -> TriggerRecord:
    """Pause (or go on with) a trigger's backfill; its next date stays where it was."""
    record = _with_backfill(store, uid)
    assert record.backfill is not None
    return await store.put(bumped(record, now or _now(),
                                  backfill=record.backfill.model_copy(update={"paused": paused})))


async def delete_backfill(store: TriggerStore, uid: str, *, now: datetime | None = None) -> TriggerRecord:
    """Cancel a trigger's backfill; the dates it ran stay run, the others never will."""
    record = _with_backfill(store, uid)
    return await store.put(bumped(record, now or _now(), backfill=None))


def _with_backfill(store: TriggerStore, uid: str) -> TriggerRecord:
    record = store.get(uid)
    if record is None or record.backfill is None:
        raise NotFoundError(f"trigger {uid!r} has no backfill: start one first")
    return record


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
