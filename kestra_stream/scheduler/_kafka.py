"""Trigger state on Kafka and which scheduler fires which trigger.

``KafkaTriggerStore`` keeps the compacted triggers topic in memory: read to its end at start,
then followed; ``put`` produces (key: the trigger uid) and returns once the broker acknowledged.

``PartitionOwnership`` is a consumer group on that topic whose only use is its assignment: a
scheduler fires the triggers whose uid the producer's partitioner (murmur2, as Kafka's Java
clients and faust) sends to a partition assigned to it. When a scheduler stops, the group gives
its partitions to the others. Between a revocation and the new owner's first tick both may fire a
date: the execution ids derived from (trigger, date) make that one execution.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaSettings, watermarks
from kestra_stream.scheduler._state import matches, set_disabled
from kestra_stream.search import TriggerRecord

log = structlog.get_logger(__name__)

_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (``org.apache.kafka.common.utils.Utils.murmur2``), as an unsigned 32-bit int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    for i in range(length // 4):
        k = int.from_bytes(data[i * 4:i * 4 + 4], "little")
        k = (k * m) & _MASK
        k ^= k >> r
        k = (k * m) & _MASK
        h = ((h * m) & _MASK) ^ k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & _MASK
    h ^= h >> 13
    h = (h * m) & _MASK
    h ^= h >> 15
    return h


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives a record keyed ``key``."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _topic_partitions(consumer: Consumer, topic: str, settings: KafkaSettings) -> list[int]:
    try:
        metadata = consumer.list_topics(topic, settings.connect_timeout_seconds)
    except KafkaException as exc:
        raise BackendError(f"cannot read the triggers topic {topic!r} at {settings.bootstrap_servers}: {exc}") from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise BackendError(f"the triggers topic {topic!r} does not exist: run `kestra-stream topics apply`")
    return sorted(found.partitions)


class KafkaTriggerStore:
    """``TriggerStore`` on the compacted triggers topic."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._topic = settings.topic("triggers")
        self._records: dict[str, TriggerRecord] = {}
        self._positions: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._producer = Producer(settings.producer_config())
        self.partitions: builtins.list[int] = []

    async def start(self) -> None:
        consumer = Consumer(self._settings.client_config(**{
            "group.id": f"kestra-stream-triggers-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        self.partitions = await asyncio.to_thread(_topic_partitions, consumer, self._topic, self._settings)
        consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in self.partitions])
        # End offsets are asked on a consumer of their own: the followed one is polled by its thread.
        self._consumer = Consumer(self._settings.client_config(**{
            "group.id": f"kestra-stream-triggers-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        self._thread = threading.Thread(target=self._follow, args=(consumer,), name="triggers", daemon=True)
        self._thread.start()
        await self.caught_up(self.partitions)

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        if self._consumer is not None:
            await asyncio.to_thread(self._consumer.close)
            self._consumer = None
        await asyncio.to_thread(self._producer.flush, 5)

    async def __aenter__(self) -> KafkaTriggerStore:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def caught_up(self, partitions: builtins.list[int]) -> None:
        """Return once every record written to ``partitions`` before this call has been read."""
        if self._consumer is None:
            raise BackendError("the trigger store is not started: call start() first")
        consumer, timeout = self._consumer, self._settings.connect_timeout_seconds
        ends = {p: (await asyncio.to_thread(watermarks, consumer, TopicPartition(self._topic, p), timeout))[1]
                for p in partitions}
        while True:
            with self._lock:
                behind = [p for p, end in ends.items() if self._positions.get(p, 0) < end]
            if not behind:
                return
            await asyncio.sleep(0.02)

    def _follow(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.1)
                if message is None or message.error() is not None:
                    continue
                key, value = message.key(), message.value()
                partition, offset = message.partition(), message.offset()
                with self._lock:
                    if partition is not None and offset is not None:
                        self._positions[partition] = offset + 1
                    if key is not None:
                        self._take(key.decode(), value)
        finally:
            consumer.close()

    def _take(self, uid: str, value: bytes | None) -> None:
        if value is None:
            self._records.pop(uid, None)
            return
        try:
            record = TriggerRecord.model_validate_json(value)
        except ValueError as exc:
            log.error("trigger_record_invalid", uid=uid, error=str(exc))
            return
        current = self._records.get(uid)
        # Records of one uid arrive in the order written; ``>=`` lets the last of two equal versions win.
        if current is None or record.version >= current.version:
            self._records[uid] = record

    # ----- TriggerStore ----------------------------------------------------------------------------
    def get(self, uid: str) -> TriggerRecord | None:
        with self._lock:
            return self._records.get(uid)

    def list(self, namespace: str | None = None, flow_id: str | None = None) -> builtins.list[TriggerRecord]:
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: r.uid)
        return [r for r in records if matches(r, namespace, flow_id)]

    async def put(self, record: TriggerRecord) -> TriggerRecord:
        await self._produce(record.uid, record.model_dump_json().encode())
        with self._lock:
            self._take(record.uid, record.model_dump_json().encode())
        return record

    async def delete(self, uid: str) -> None:
        await self._produce(uid, None)
        with self._lock:
            self._records.pop(uid, None)

    async def _produce(self, uid: str, value: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: Any, _msg: Any) -> None:
            def settle() -> None:
                if delivered.done():
                    return
                if err is not None:
                    delivered.set_exception(BackendError(f"trigger state {uid!r} was not written to "
                                                         f"{self._topic!r}: {err}"))
                else:
                    delivered.set_result(None)
            loop.call_soon_threadsafe(settle)

        self._producer.produce(self._topic, key=uid.encode(), value=value, on_delivery=on_delivery)
        await asyncio.to_thread(self._producer.flush, self._settings.connect_timeout_seconds)
        try:
            await asyncio.wait_for(delivered, self._settings.connect_timeout_seconds)
        except TimeoutError as exc:
            raise BackendError(f"trigger state {uid!r}: no acknowledgement from {self._settings.bootstrap_servers} "
                               f"within {self._settings.connect_timeout_seconds} s") from exc


class TriggerTopicSwitch:
    """Enable or disable a trigger from a process that runs no scheduler (a worker's ``trigger.Toggle``).

    The triggers topic is the trigger state every scheduler follows, so writing it is what the API
    does; the store is started on the first toggle only, as most workers never run one.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._store: KafkaTriggerStore | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, uid: str, disabled: bool) -> TriggerRecord:
        async with self._lock:
            if self._store is None:
                store = KafkaTriggerStore(self._settings)
                await store.start()  # read to the end: the record toggled is the newest one
                self._store = store
            else:
                await self._store.caught_up(self._store.partitions)
            return await set_disabled(self._store, uid, disabled)

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.stop()
            self._store = None


def default_scheduler_group(settings: KafkaSettings) -> str:
    """The consumer group the schedulers share the triggers in, unless told another."""
    return f"{settings.topic_prefix.rstrip('._-') or 'kestra-stream'}-scheduler"


class PartitionOwnership:
    """A scheduler's share of the triggers: the partitions its consumer group assigned to it.

    ``on_change`` is called (on the group's thread) with the partitions newly assigned; they are
    owned once ``confirm`` is called with them (without ``on_change``, at once).
    """

    def __init__(self, settings: KafkaSettings, *, group_id: str | None = None,
                 on_change: Callable[[builtins.list[int]], None] | None = None) -> None:
        self._settings = settings
        self._topic = settings.topic("triggers")
        self.group_id = group_id or default_scheduler_group(settings)
        self._owned: set[int] = set()
        self._pending: set[int] = set()
        self._partitions = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change = on_change

    async def start(self) -> None:
        consumer = Consumer(self._settings.client_config(**{
            "group.id": self.group_id, "enable.auto.commit": False, "auto.offset.reset": "latest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
            "partition.assignment.strategy": "cooperative-sticky"}))
        partitions = await asyncio.to_thread(_topic_partitions, consumer, self._topic, self._settings)
        self._partitions = len(partitions)
        consumer.subscribe([self._topic], on_assign=self._assigned, on_revoke=self._revoked,
                           on_lost=self._revoked)
        self._thread = threading.Thread(target=self._run, args=(consumer,), name="scheduler-group", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
        with self._lock:
            self._owned.clear()
            self._pending.clear()

    def owns(self, uid: str) -> bool:
        with self._lock:
            return self._partitions > 0 and partition_of(uid, self._partitions) in self._owned

    @property
    def owned(self) -> builtins.list[int]:
        with self._lock:
            return sorted(self._owned)

    def confirm(self, partitions: builtins.list[int]) -> None:
        """Start firing the triggers of newly assigned ``partitions`` (those not revoked meanwhile)."""
        with self._lock:
            taken = self._pending.intersection(partitions)
            self._pending.difference_update(taken)
            self._owned.update(taken)

    def _assigned(self, _consumer: Consumer, partitions: builtins.list[TopicPartition]) -> None:
        added = [p.partition for p in partitions]
        log.info("scheduler_partitions_assigned", partitions=added, group=self.group_id)
        with self._lock:
            self._pending.update(added)
        if self._on_change is not None:
            if added:
                self._on_change(added)
        else:
            self.confirm(added)

    def _revoked(self, _consumer: Consumer, partitions: builtins.list[TopicPartition]) -> None:
        with self._lock:
            self._owned.difference_update(p.partition for p in partitions)
            self._pending.difference_update(p.partition for p in partitions)
        log.info("scheduler_partitions_revoked", partitions=[p.partition for p in partitions], group=self.group_id)

    def _run(self, consumer: Consumer) -> None:
        # Polled only to stay in the group and receive assignments; the records themselves are read
        # by the trigger store.
        try:
            while not self._stop.is_set():
                consumer.poll(0.2)
        finally:
            consumer.close()
