"""``io.kestra.plugin.kafka.Trigger`` (one execution per batch) and ``io.kestra.plugin.kafka.RealtimeTrigger``
(one execution per record).

Both acknowledge the broker only after the execution they start is durably created: a crash in
between reads the records again, and the execution id derived from what fired (the record's
topic/partition/offset, or the batch's first offsets) makes the second creation a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import structlog
from pydantic import Field, PrivateAttr

from kestra_stream.durations import Duration
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, PollingTrigger, TriggerContext
from kestra_stream.models.task import RealtimeTrigger as RealtimeTriggerBase
from kestra_stream_plugin_kafka._consumer import (
    ConsumerOptions,
    ConsumerSpec,
    resolve,
)
from kestra_stream_plugin_kafka._serdes import SerdeError

if TYPE_CHECKING:
    from confluent_kafka import Message

    from kestra_stream_plugin_kafka._client import OpenConsumer

log = structlog.get_logger(__name__)
T = TypeVar("T")

# A poll returns as soon as a record is there; this bounds only how long an idle poll holds the thread.
REALTIME_POLL_SECONDS = 0.1
REALTIME_MAX_BATCH = 500

_TRIGGER_EXAMPLE = """id: kafka_trigger
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.messagesCount }} records in {{ trigger.uri }}"
triggers:
  - id: trigger
    type: io.kestra.plugin.kafka.Trigger
    topic: orders
    properties:
      bootstrap.servers: localhost:9092
    valueDeserializer: JSON
    interval: PT30S
    maxRecords: 5
    groupId: kafkaConsumerGroupId
"""

_REALTIME_EXAMPLE = """id: kafka_realtime_trigger
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.value }}"
triggers:
  - id: realtime_trigger
    type: io.kestra.plugin.kafka.RealtimeTrigger
    topic: orders
    properties:
      bootstrap.servers: localhost:9092
    valueDeserializer: JSON
    groupId: kafkaConsumerGroupId
"""


class Trigger(ConsumerOptions, PollingTrigger):
    """Every ``interval``, read up to ``maxRecords`` or ``maxDuration`` into a file; one execution per batch.

    ``evaluate`` emits the execution itself (``ctx.emit``) and returns None: the group's offsets are
    committed only after ``emit`` returned, which a scheduler emitting the returned variables could
    not allow. The execution's ``trigger.uri`` is a JSON-lines file (one message map a line) and
    ``trigger.messagesCount`` its line count.
    """

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.kafka.Trigger", short="kafka.Trigger",
        title="Consume Kafka records periodically and start one execution per batch.",
        examples=(_TRIGGER_EXAMPLE,))

    group_id: str = Field(description="Consumer group: what was consumed is not consumed again.")
    poll_duration: Duration = Field(default=timedelta(seconds=5), description="How long a poll waits for records.")
    max_records: int | None = Field(default=None, ge=1, description="At most this many records per batch.")
    max_duration: Duration | None = Field(default=None, description="At most this long reading one batch.")

    # Topics found missing by an earlier evaluation, and which of them are still reported as missing:
    # one warning while a topic is missing, and its first records are read once it is created.
    _late_topics: set[str] = PrivateAttr(default_factory=set)
    _reported_missing: frozenset[str] = PrivateAttr(default=frozenset())

    async def evaluate(self, ctx: TriggerContext) -> Mapping[str, Any] | None:
        from kestra_stream_plugin_kafka._client import OpenConsumer, consume_batch, missing_topics_message

        spec = resolve(self, ctx.render)
        opened = await asyncio.to_thread(partial(OpenConsumer, spec, late_topics=frozenset(self._late_topics)))
        missing = frozenset(opened.missing)
        if missing - self._reported_missing:
            ctx.log(LogLevel.WARN, missing_topics_message(opened))
        self._reported_missing = missing
        self._late_topics |= missing
        try:
            batch = await asyncio.to_thread(
                consume_batch, opened, poll_seconds=self.poll_duration.total_seconds(), max_records=self.max_records,
                max_seconds=self.max_duration.total_seconds() if self.max_duration else None)
            if batch.messages:
                key = ",".join(f"{t}/{p}/{o}" for (t, p), o in sorted(batch.first_offsets.items()))
                text = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in batch.messages)
                uri = await ctx.storage.put(ctx.file_uri(key, "messages.jsonl"), text.encode())
                await ctx.emit({"uri": uri, "messagesCount": len(batch.messages)}, key=key)
            # Skipped records are acknowledged too: reading them again would fail again.
            await asyncio.to_thread(opened.commit, batch.next_offsets, asynchronous=False)
        finally:
            await asyncio.to_thread(opened.close)
        if batch.skipped:
            ctx.log(LogLevel.WARN, f"{batch.skipped} record(s) could not be deserialized and were skipped")
        return None


class RealtimeTrigger(ConsumerOptions, RealtimeTriggerBase):
    """One long-lived consumer; one execution per record, with the record as ``trigger.*``
    (key, value, topic, partition, offset, timestamp, headers).

    A record's offset is stored and committed only once ``ctx.emit`` returned for it (and for every
    record before it on its partition). The consumer's blocking calls run on a thread of its own,
    one call at a time; a poll returns as soon as a record is fetched.
    """

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.kafka.RealtimeTrigger", short="kafka.RealtimeTrigger",
        title="Start one execution per Kafka record, as records arrive.", examples=(_REALTIME_EXAMPLE,))

    group_id: str = Field(description="Consumer group: offsets are committed once each execution is created.")

    async def listen(self, ctx: TriggerContext) -> None:
        from confluent_kafka import KafkaException

        from kestra_stream_plugin_kafka._client import OpenConsumer, missing_topics_message

        spec = resolve(self, ctx.render, realtime=True)
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kafka-trigger-{self.id}")
        loop = asyncio.get_running_loop()
        opened: OpenConsumer | None = None
        try:
            opened = await loop.run_in_executor(thread, OpenConsumer, spec)
            if opened.missing:
                ctx.log(LogLevel.WARN, missing_topics_message(opened))
            ctx.log(LogLevel.DEBUG, f"Kafka consumer started: topics={list(spec.topics)} pattern={spec.pattern} "
                                    f"group={spec.group_id}")
            while True:
                records = await loop.run_in_executor(thread, _poll_many, opened)
                if records:
                    await self._emit_all(ctx, opened, spec, records)
        finally:
            if opened is not None:
                # Queued behind any poll still running on the thread, so the two never overlap.
                closing = loop.run_in_executor(thread, opened.close)
                with contextlib.suppress(asyncio.CancelledError, KafkaException):
                    await asyncio.shield(closing)
            thread.shutdown(wait=False)

    async def _emit_all(self, ctx: TriggerContext, opened: OpenConsumer, spec: ConsumerSpec,
                        records: list[Message]) -> None:
        from kestra_stream_plugin_kafka._client import position, record_error, to_message

        emits: list[Any] = []
        next_offsets: dict[tuple[str, int], int] = {}
        for msg in records:
            if record_error(msg) is not None:
                ctx.log(LogLevel.WARN, f"Kafka consumer error: {msg.error()}")
                continue
            topic, partition, offset = position(msg)
            next_offsets[(topic, partition)] = offset + 1
            try:
                message = to_message(msg, spec)
            except SerdeError as exc:
                ctx.log(LogLevel.WARN, f"record {topic}/{partition}/{offset} skipped: {exc}")
                continue
            if message is not None:
                emits.append(ctx.emit(message, key=f"{topic}/{partition}/{offset}"))
        # Executions of one poll are created concurrently; the poll's offsets are acknowledged after all.
        await asyncio.gather(*emits)
        # Asynchronous: a failed commit (broker down) is reported by the client and covered by the next one.
        opened.commit(next_offsets, asynchronous=True)


def _poll_many(opened: OpenConsumer) -> list[Message]:
    """The first record to arrive within the poll time, and every record already fetched after it."""
    first = opened.poll(REALTIME_POLL_SECONDS)
    if first is None:
        return []
    out = [first]
    while len(out) < REALTIME_MAX_BATCH:
        more = opened.poll(0)
        if more is None:
            break
        out.append(more)
    return out
