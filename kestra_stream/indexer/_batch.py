"""From Kafka records to an ``IndexBatch``, and which offsets the batch lets the indexer commit."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from kestra_stream.kafka import FlowRecord, KafkaSettings, decode_log, decode_state
from kestra_stream.search import IndexBatch, IndexedLog, TriggerRecord

log = structlog.get_logger(__name__)

KINDS = ("executions", "logs", "flows", "triggers")


@dataclass(frozen=True)
class Record:
    """What the indexer needs of a consumed Kafka message."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


@dataclass
class PendingBatch:
    """Documents decoded from consecutive records, and the next offset to commit per partition."""

    kinds: dict[str, str]  # topic name -> logical kind
    documents: IndexBatch = field(default_factory=IndexBatch)
    commit: dict[tuple[str, int], int] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0
    superseded: int = 0  # snapshots never decoded: a later one of the same execution came in the same batch
    # execution id -> the last snapshot of it in this batch, decoded when the batch is written
    _snapshots: dict[bytes, Record] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: KafkaSettings) -> PendingBatch:
        return cls(kinds={settings.topic(kind): kind for kind in KINDS})

    def add(self, record: Record) -> None:
        self.records += 1
        # Committed once written: the offset after this one, whatever the record held.
        self.commit[(record.topic, record.partition)] = record.offset + 1
        kind = self.kinds.get(record.topic)
        if record.value is None:
            # A deleted execution (its key is its id) leaves the index too; flows are deleted by a record.
            if kind == "executions" and record.key is not None:
                self.superseded += self._snapshots.pop(record.key, None) is not None
                self.documents.deleted_executions.append(record.key.decode())
            return
        if kind == "executions" and record.key is not None:
            # Only the last snapshot of an execution in a batch is decoded and written: the index keeps the
            # latest version anyway, and a busy execution writes many snapshots a second.
            self.superseded += self._snapshots.pop(record.key, None) is not None
            self._snapshots[record.key] = record
            return
        self._decode(kind, record, record.value)

    @property
    def batch(self) -> IndexBatch:
        """The documents to write: every record added, each execution's last snapshot decoded once."""
        for record in self._snapshots.values():
            if record.value is not None:  # always: tombstones are never kept here
                self._decode("executions", record, record.value)
        self._snapshots.clear()
        return self.documents

    def _decode(self, kind: str | None, record: Record, value: bytes) -> None:
        try:
            if kind == "executions":
                # The snapshot's offset grows with each snapshot of one execution (same key, same
                # partition): an older snapshot, delivered again or late, can never win.
                self.documents.executions.append((decode_state(value).execution, record.offset + 1))
            elif kind == "logs":
                self.documents.logs.append(IndexedLog(entry=decode_log(value),
                                                  id=f"{record.partition}-{record.offset}", seq=record.offset))
            elif kind == "flows":
                self.documents.flows.append(FlowRecord.model_validate_json(value))
            elif kind == "triggers":
                self.documents.triggers.append(TriggerRecord.model_validate_json(value))
        except ValueError as exc:  # pydantic's ValidationError and the wire format's UnreadableRecord
            # A record no reader understands would stop the partition for good: count it and go on. The
            # index is a copy: the record stays on its topic, where a newer indexer can read it again.
            self.skipped += 1
            log.error("indexer_record_unreadable", topic=record.topic, partition=record.partition,
                      offset=record.offset, error=str(exc).splitlines()[0])

    def __len__(self) -> int:
        return self.records
