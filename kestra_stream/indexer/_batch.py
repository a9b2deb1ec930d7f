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
    batch: IndexBatch = field(default_factory=IndexBatch)
    commit: dict[tuple[str, int], int] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0

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
                self.batch.deleted_executions.append(record.key.decode())
            return
        try:
            if kind == "executions":
                # The snapshot's offset grows with each snapshot of one execution (same key, same
                # partition): an older snapshot, delivered again or late, can never win.
                self.batch.executions.append((decode_state(record.value).execution, record.offset + 1))
            elif kind == "logs":
                self.batch.logs.append(IndexedLog(entry=decode_log(record.value),
                                                  id=f"{record.partition}-{record.offset}", seq=record.offset))
            elif kind == "flows":
                self.batch.flows.append(FlowRecord.model_validate_json(record.value))
            elif kind == "triggers":
                self.batch.triggers.append(TriggerRecord.model_validate_json(record.value))
        except ValueError as exc:  # pydantic's ValidationError and the wire format's UnreadableRecord
            # A record no reader understands would stop the partition for good: count it and go on. The
            # index is a copy: the record stays on its topic, where a newer indexer can read it again.
            self.skipped += 1
            log.error("indexer_record_unreadable", topic=record.topic, partition=record.partition,
                      offset=record.offset, error=str(exc).splitlines()[0])

    def __len__(self) -> int:
        return self.records
