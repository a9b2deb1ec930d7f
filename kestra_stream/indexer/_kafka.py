"""The Kafka indexer: a consumer group on the executions, logs, flows and triggers topics.

It reads a batch (up to ``batch_size`` records or ``batch_seconds``), writes it to the search
repository in one bulk request, and only then commits the batch's offsets. When the repository
is down the same batch is written again with a growing backoff, nothing further is read, and the
lag grows; once it answers the lag drains. Writes are idempotent (external versions, stable log
ids), so a crash between the write and the commit only writes the same documents again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, TopicPartition
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.errors import BackendError
from kestra_stream.indexer._batch import KINDS, PendingBatch, Record
from kestra_stream.kafka import KafkaSettings
from kestra_stream.search import SearchRepository

log = structlog.get_logger(__name__)


class IndexerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = "kestra-stream-indexer"
    batch_size: int = Field(default=1000, ge=1)
    batch_seconds: float = Field(default=0.5, gt=0)
    retry_initial_seconds: float = Field(default=0.2, gt=0)
    retry_max_seconds: float = Field(default=10.0, gt=0)
    # The batch being retried is not re-polled: this must outlast an outage of the store, or the group
    # takes the partitions away (nothing is lost then either: the uncommitted records come again).
    max_poll_interval_ms: int = Field(default=3_600_000, ge=10_000)
    lag_refresh_seconds: float = Field(default=1.0, ge=0)
    # The broker answers a fetch once it holds this much or waited this long: the indexer gathers a batch
    # for ``batch_seconds`` anyway, and a fetch per handful of records cost the broker more than the records.
    fetch_min_bytes: int = Field(default=256 * 1024, ge=1)
    fetch_wait_ms: int = Field(default=200, ge=0)


class KafkaIndexer:
    """Projects the Kafka topics into a ``SearchRepository``; ``run`` blocks, ``start`` runs it in a thread."""

    def __init__(self, kafka: KafkaSettings, repository: SearchRepository,
                 settings: IndexerSettings | None = None) -> None:
        self.kafka = kafka
        self.repository = repository
        self.settings = settings or IndexerSettings()
        self.topics = [kafka.topic(kind) for kind in KINDS]
        self.indexed = 0  # records written and committed since start
        self.retries = 0  # failed writes of a batch since start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._lag: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._lag_checked = 0.0

    # ----- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="kestra-stream-indexer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in hand (written and committed, or left uncommitted while retrying)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        consumer = Consumer(self.kafka.client_config(**{
            "group.id": self.settings.group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "max.poll.interval.ms": self.settings.max_poll_interval_ms,
            "fetch.min.bytes": self.settings.fetch_min_bytes, "fetch.wait.max.ms": self.settings.fetch_wait_ms}))
        consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked)
        log.info("indexer_started", topics=self.topics, group=self.settings.group_id)
        try:
            while not self._stop.is_set():
                pending = self._poll(consumer)
                if len(pending) and self._write(consumer, pending):
                    self._commit(consumer, pending)
                self._refresh_lag(consumer)
        finally:
            consumer.close()
            log.info("indexer_stopped", indexed=self.indexed)

    # ----- metrics -----------------------------------------------------------------------------
    def lag(self) -> int:
        """Records on the assigned partitions not indexed yet (end offset minus committed offset)."""
        with self._lock:
            return sum(self._lag.values())

    def lag_by_partition(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._lag)

    # ----- the loop ----------------------------------------------------------------------------
    def _poll(self, consumer: Consumer) -> PendingBatch:
        pending = PendingBatch.for_settings(self.kafka)
        deadline = time.monotonic() + self.settings.batch_seconds
        while len(pending) < self.settings.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for message in consumer.consume(self.settings.batch_size - len(pending), timeout=remaining):
                error = message.error()
                if error is not None:
                    log.warning("indexer_consume_error", error=str(error))
                    continue
                pending.add(Record(topic=str(message.topic()), partition=int(message.partition() or 0),
                                   offset=int(message.offset() or 0), value=message.value(), key=message.key()))
        return pending

    def _write(self, consumer: Consumer, pending: PendingBatch) -> bool:
        """Write until it succeeds (True) or the indexer is stopped (False, nothing committed)."""
        delay = self.settings.retry_initial_seconds
        while not self._stop.is_set():
            try:
                self.repository.write(pending.batch)
                return True
            except BackendError as exc:
                self.retries += 1
                log.warning("indexer_write_failed", documents=len(pending.batch), retry_in=delay, error=str(exc))
                self._refresh_lag(consumer, force=True)
                self._stop.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)
        return False

    def _commit(self, consumer: Consumer, pending: PendingBatch) -> None:
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in pending.commit.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Partitions moved to another member meanwhile: it reads them again from the last commit.
            log.warning("indexer_commit_failed", error=str(exc))
            return
        with self._lock:
            self._committed.update(pending.commit)
        self.indexed += len(pending)

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=10)
        with self._lock:
            for tp in committed:
                if tp.offset != OFFSET_INVALID and tp.offset >= 0:
                    self._committed[(tp.topic, tp.partition)] = tp.offset
        log.info("indexer_assigned", partitions=len(partitions))

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._committed.pop((tp.topic, tp.partition), None)
                self._lag.pop((tp.topic, tp.partition), None)

    def _refresh_lag(self, consumer: Consumer, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._lag_checked < self.settings.lag_refresh_seconds:
            return
        self._lag_checked = now
        lag: dict[tuple[str, int], int] = {}
        try:
            for tp in consumer.assignment():
                # Cached: the fetcher keeps reading ahead (also while a batch is retried) and records the end
                # offsets it sees; asking the broker costs a round trip per partition.
                low, high = consumer.get_watermark_offsets(tp, timeout=2, cached=True)
                if high < 0:
                    continue  # nothing fetched yet on this partition
                with self._lock:
                    done = self._committed.get((tp.topic, tp.partition), low)
                lag[(tp.topic, tp.partition)] = max(0, high - max(done, low))
        except KafkaException as exc:
            log.warning("indexer_lag_unknown", error=str(exc))
            return
        with self._lock:
            self._lag = lag

    def describe(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "retries": self.retries, "lag": self.lag(), "topics": self.topics}
