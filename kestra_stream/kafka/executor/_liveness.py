"""Which worker groups have a live worker, for the executor: the workers' heartbeats, read as they come.

The heartbeats topic is compacted and keyed by worker id, so reading it from its start gives each
worker's newest record (a tombstone for one that stopped cleanly). The executor reads it whole before
it folds anything: at start, a group whose workers already run is known alive, not failed by mistake.

The clock is read here, in the executor's shell: the fold only ever receives the set of live keys
(``kestra_stream.executor.worker_groups``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import ValidationError

from kestra_stream.errors import BackendError
from kestra_stream.kafka._settings import KafkaSettings
from kestra_stream.kafka.worker._heartbeat import WorkerHeartbeat, decode_heartbeat

log = structlog.get_logger(__name__)

# A worker beats every 3 s; silent this long it is gone (its consumer group's session timeout, 10 s).
STALE_AFTER = timedelta(seconds=10)


def live_groups(beats: Mapping[str, WorkerHeartbeat], now: datetime,
                stale_after: timedelta = STALE_AFTER) -> frozenset[str]:
    """The worker group keys with a worker whose newest heartbeat is younger than ``stale_after``."""
    return frozenset(beat.worker_group for beat in beats.values()
                     if beat.worker_group is not None and now - beat.at < stale_after)


class WorkerLiveness:
    """The newest heartbeat of every worker, kept by a reader of the whole heartbeats topic."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._topic = settings.topic("heartbeats")
        self._timeout = settings.connect_timeout_seconds
        # A group id is only a name here: partitions are assigned, nothing is committed.
        self._config = settings.client_config(**{
            "group.id": f"{settings.executor_app_id}.liveness", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
        })
        self._consumer: Any = None  # a confluent Consumer once started
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="executor-liveness")
        self._beats: dict[str, WorkerHeartbeat] = {}
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    def live_groups(self) -> frozenset[str]:
        return live_groups(self._beats, datetime.now(UTC))

    async def start(self) -> None:
        """Assign the topic from its start and read up to its end as it is now; then follow it."""
        self._consumer = Consumer(self._config)
        await self._in_thread(self._catch_up)
        self._loop = asyncio.create_task(self._listen(), name="executor-liveness")

    def _catch_up(self) -> None:
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                ends = self._assign()
                break
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise BackendError(f"cannot read the heartbeats topic {self._topic}: {exc}") from exc
                time.sleep(0.2)
        while ends and time.monotonic() < deadline:
            for message in self._consumer.consume(500, 0.2):
                self._receive(message)
            for tp in self._consumer.position([TopicPartition(self._topic, p) for p in list(ends)]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]

    def _assign(self) -> dict[int, int]:
        metadata = self._consumer.list_topics(self._topic, timeout=self._timeout)
        topic = metadata.topics[self._topic]
        if topic.error is not None:
            raise KafkaException(topic.error)
        ends = {}
        for partition in sorted(topic.partitions):
            low, high = self._consumer.get_watermark_offsets(TopicPartition(self._topic, partition),
                                                             timeout=self._timeout)
            if high > low:
                ends[partition] = high
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in sorted(topic.partitions)])
        return ends

    async def _listen(self) -> None:
        while not self._stopping:
            for message in await self._in_thread(self._consumer.consume, 100, 0.2):
                self._receive(message)

    def _receive(self, message: Any) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("heartbeats_topic_error", error=error.str())
            return
        worker_id = (message.key() or b"").decode()
        value = message.value()
        if value is None:  # a worker that stopped cleanly
            self._beats.pop(worker_id, None)
            return
        try:
            self._beats[worker_id] = decode_heartbeat(value)
        except ValidationError as exc:
            log.warning("heartbeat_unreadable", worker_id=worker_id, error=str(exc))

    async def stop(self) -> None:
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._consumer is not None:
            await self._in_thread(self._consumer.close)
        self._thread.shutdown(wait=True)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
