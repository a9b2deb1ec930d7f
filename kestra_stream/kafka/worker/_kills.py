"""The killed topic, read as a broadcast: every worker sees every KillTask.

No consumer group: the listener assigns itself every partition, starting a short look-back
before now. The look-back lets a worker that takes over a redelivered job know the job was
already killed (and skip it), and positions are resolved before ``start`` returns, so a kill
produced after that is never missed.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import ValidationError

from kestra_stream.errors import BackendError
from kestra_stream.executor.commands import KillTask
from kestra_stream.kafka._settings import KafkaSettings

log = structlog.get_logger(__name__)

REMEMBERED_KILLS = 10_000


class KillListener:
    def __init__(self, settings: KafkaSettings, *, worker_id: str, on_kill: Callable[[KillTask], None],
                 lookback_seconds: float = 600.0) -> None:
        self._topic = settings.topic("killed")
        self._timeout = settings.connect_timeout_seconds
        self._on_kill = on_kill
        self._lookback_ms = int(lookback_seconds * 1000)
        # A group id is only a name here: nothing is subscribed or committed.
        self._consumer = Consumer(settings.client_config(**{
            "group.id": f"{settings.worker_group_id}.killed.{worker_id}", "client.id": f"{worker_id}-killed",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
        }))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{worker_id}-killed")
        self._killed: OrderedDict[str, None] = OrderedDict()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    def was_killed(self, job_id: str) -> bool:
        return job_id in self._killed

    async def start(self) -> None:
        await self._in_thread(self._assign)
        self._loop = asyncio.create_task(self._listen(), name="kill-listener")

    def _assign(self) -> None:
        # A topic created moments ago may still be electing its leaders (NOT_LEADER_FOR_PARTITION,
        # which librdkafka does not flag retriable): retry any broker error until the connect timeout.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                self._assign_once()
                return
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise BackendError(f"cannot assign the killed topic {self._topic}: {exc}; "
                                       f"is the broker reachable?") from exc
                time.sleep(0.2)

    def _assign_once(self) -> None:
        metadata = self._consumer.list_topics(self._topic, timeout=self._timeout)
        topic = metadata.topics[self._topic]
        if topic.error is not None:
            if topic.error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE):
                raise KafkaException(topic.error)
            raise BackendError(f"cannot read the killed topic {self._topic}: {topic.error.str()}; "
                               f"create the topics first (kestra-stream topics apply)")
        since = int(time.time() * 1000) - self._lookback_ms
        wanted = [TopicPartition(self._topic, p, since) for p in sorted(topic.partitions)]
        start = []
        for tp in self._consumer.offsets_for_times(wanted, timeout=self._timeout):
            offset = tp.offset
            if offset < 0:  # nothing since the look-back: start at the end, resolved now
                _low, offset = self._consumer.get_watermark_offsets(tp, timeout=self._timeout)
            start.append(TopicPartition(self._topic, tp.partition, offset))
        self._consumer.assign(start)

    async def _listen(self) -> None:
        while not self._stopping:
            messages = await self._in_thread(self._consumer.consume, 100, 0.2)
            for message in messages:
                if message.error() is not None:
                    log.warning("kill_topic_error", error=message.error().str())
                    continue
                self._receive(message.value())

    def _receive(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            kill = KillTask.model_validate_json(value)
        except ValidationError as exc:
            log.error("kill_record_unreadable", topic=self._topic, error=str(exc))
            return
        job_id = f"{kill.taskrun_id}:{kill.attempt}"
        self._killed[job_id] = None
        while len(self._killed) > REMEMBERED_KILLS:
            self._killed.popitem(last=False)
        self._on_kill(kill)

    async def stop(self) -> None:
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self._in_thread(self._consumer.close)
        self._thread.shutdown(wait=True)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
