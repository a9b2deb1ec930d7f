"""Flows on Kafka: a compacted topic is the source of truth for every flow and its revisions.

Each revision is a record keyed ``namespace/id/revision`` (so executions of an older revision
can still be folded) and the newest one is also keyed ``namespace/id``. A deletion is a revision
as well (Kestra's: the last source under the next number, ``deleted: true``), so every store
following the topic and the indexer see it like any other change. A ``KafkaFlowStore`` reads the
whole topic at start, keeps following it, and offers the ``get`` a backend needs.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from kestra_stream.errors import BackendError, FlowValidationError
from kestra_stream.flows import load_flow
from kestra_stream.flows.catalog import FlowCatalog
from kestra_stream.flows.record import FlowRecord
from kestra_stream.kafka._codec import flow_key
from kestra_stream.kafka._settings import KafkaSettings, watermarks
from kestra_stream.models.flow import Flow
from kestra_stream.models.plugin import PluginDefault
from kestra_stream.plugins import PluginRegistry

log = structlog.get_logger(__name__)


class KafkaFlowStore:
    def __init__(self, settings: KafkaSettings, *, registry: PluginRegistry | None = None,
                 global_defaults: Sequence[PluginDefault] = ()) -> None:
        self._settings = settings
        self._registry = registry
        self._defaults = list(global_defaults)
        self._topic = settings.topic("flows")
        self._catalog = FlowCatalog()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer = Producer(settings.producer_config())

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Read every flow revision of the topic, then keep following it in the background."""
        consumer = Consumer(self._settings.client_config(**{
            "group.id": f"kestra-stream-flows-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        partitions = [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in await self._partitions(consumer)]
        timeout = self._settings.connect_timeout_seconds
        # Before assigning: an assigned consumer fetches, and librdkafka queues each offsets query behind
        # the broker's long-polled fetch on the same connection (0.5 s a partition, every component's start).
        ends = {p.partition: await asyncio.to_thread(watermarks, consumer, p, timeout) for p in partitions}
        consumer.assign(partitions)
        await asyncio.to_thread(self._catch_up, consumer, ends)
        self._thread = threading.Thread(target=self._follow, args=(consumer,), name="flows", daemon=True)
        self._thread.start()

    async def _partitions(self, consumer: Consumer) -> list[int]:
        """The flows topic's partitions, once the broker serves its metadata.

        A topic created a moment ago (``topics apply`` just before a server starts) can be unknown
        to the broker's metadata cache, or leaderless, for a short while: asked again until the
        connect timeout, it is only then reported missing.
        """
        deadline = time.monotonic() + self._settings.connect_timeout_seconds
        while True:
            try:
                metadata = await asyncio.to_thread(consumer.list_topics, self._topic,
                                                   self._settings.connect_timeout_seconds)
            except KafkaException as exc:
                raise BackendError(f"cannot read the flows topic {self._topic!r} at "
                                   f"{self._settings.bootstrap_servers}: {exc}") from exc
            topic = metadata.topics.get(self._topic)
            if topic is not None and topic.error is None and topic.partitions:
                return sorted(topic.partitions)
            if time.monotonic() >= deadline:
                raise BackendError(f"the flows topic {self._topic!r} does not exist: run `kestra-stream topics apply`")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        await asyncio.to_thread(self._producer.flush, 5)

    def _catch_up(self, consumer: Consumer, ends: dict[int, tuple[int, int]]) -> None:
        """Read until every partition is at its end offset as it was at start."""
        pending = {p for p, (low, high) in ends.items() if high > low}
        while pending:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                self._take(message.value())
            for position in consumer.position([TopicPartition(self._topic, p) for p in pending]):
                if position.offset >= ends[position.partition][1]:
                    pending.discard(position.partition)

    def _follow(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    self._take(message.value())
        finally:
            consumer.close()

    def _take(self, value: bytes | None) -> None:
        if value is None:
            return
        record = FlowRecord.model_validate_json(value)
        try:
            flow = load_flow(record.source, registry=self._registry, global_defaults=self._defaults)
        except FlowValidationError as exc:
            # A flow that no longer validates (a plugin was removed) must not stop the others.
            log.error("flow_revision_invalid", flow=f"{record.namespace}.{record.id}", revision=record.revision,
                      error=str(exc))
            return
        with self._lock:
            self._catalog.add(flow.model_copy(update={"revision": record.revision, "deleted": record.deleted}),
                              record.revision)

    # ----- reading and writing -------------------------------------------------------------------
    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        with self._lock:
            return self._catalog.get(namespace, flow_id, revision)

    def all_latest(self) -> list[Flow]:
        with self._lock:
            return self._catalog.all_latest()

    def revisions(self, namespace: str, flow_id: str) -> list[Flow]:
        with self._lock:
            return self._catalog.revisions(namespace, flow_id)

    def parse(self, source: str, *, file: str | None = None) -> Flow:
        """Validate a flow exactly as ``deploy`` does, without publishing it."""
        return load_flow(source, file=file, registry=self._registry, global_defaults=self._defaults)

    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and publish a flow; a changed source (or a deleted flow) becomes a new revision.

        Blocks until the record is delivered.
        """
        flow = self.parse(source, file=file)
        with self._lock:
            current = self._catalog.latest(flow.namespace, flow.id)
        if current is not None and not current.deleted and current.source == source:
            return current
        revision = (current.revision or 0) + 1 if current is not None else 1
        published = flow.model_copy(update={"revision": revision})
        self._publish(FlowRecord(namespace=flow.namespace, id=flow.id, revision=revision, source=source), published)
        return published

    def delete(self, namespace: str, flow_id: str) -> Flow:
        """Publish the deletion of a live flow (NotFoundError otherwise); blocks until it is delivered."""
        with self._lock:
            current, revision = self._catalog.get(namespace, flow_id)
        deleted = current.model_copy(update={"revision": revision + 1, "deleted": True})
        self._publish(FlowRecord(namespace=namespace, id=flow_id, revision=revision + 1, source=current.source or "",
                                 deleted=True), deleted)
        return deleted

    def _publish(self, record: FlowRecord, flow: Flow) -> None:
        value = record.model_dump_json().encode()
        errors: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                errors.append(str(err))

        for key in (flow_key(record.namespace, record.id, record.revision), flow_key(record.namespace, record.id)):
            self._producer.produce(self._topic, key=key, value=value, on_delivery=delivered)
        if self._producer.flush(self._settings.connect_timeout_seconds) or errors:
            raise BackendError(f"flow {record.namespace}.{record.id} revision {record.revision} was not published "
                               f"to {self._topic!r}: {errors[0] if errors else 'delivery timed out'}")
        with self._lock:
            self._catalog.add(flow, record.revision)
