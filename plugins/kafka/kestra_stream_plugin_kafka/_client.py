"""The consumer Consume, Trigger and RealtimeTrigger open, its subscription, and how one record becomes
Kestra's message map.

Every function here that touches the broker blocks; callers run them on a thread (a task's or a
trigger's own), never on the event loop.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from kestra_stream_plugin_kafka._consumer import METADATA_TIMEOUT, ConsumerSpec, iso_millis
from kestra_stream_plugin_kafka._serdes import SerdeError, deserialize

log = structlog.get_logger(__name__)


class OpenConsumer:
    """A consumer subscribed (or assigned) as its spec says; ``assigned`` is set once it has partitions.

    ``missing`` names the topics (or the pattern) that had no match on the broker when it subscribed.
    A topic created after that (or one of ``late_topics``, found missing by an earlier consumer of the
    same trigger) holds only records produced since: its partitions without a committed offset are
    read from their beginning, whatever ``auto.offset.reset`` says, so the records that created it
    (a producer's first send) are not skipped.
    """

    def __init__(self, spec: ConsumerSpec, *, late_topics: Iterable[str] = ()) -> None:
        self.spec = spec
        self.assigned = threading.Event()
        self.missing: tuple[str, ...] = ()
        self._late = frozenset(late_topics)
        self._existing: frozenset[str] | None = None  # topics there at subscription (subscribe mode only)
        # Where assigned partitions start when nothing was fetched yet (OFFSET_BEGINNING / OFFSET_END or an offset).
        self._starts: dict[tuple[str, int], int] = {}
        self.consumer = Consumer(spec.config)
        try:
            self._subscribe()
        except BaseException:
            self.consumer.close()
            raise

    def _subscribe(self) -> None:
        spec = self.spec
        if spec.pattern is None and (spec.group_id is None or spec.partitions):
            self.consumer.assign(self._starting_offsets(self._partitions()))
            self.assigned.set()
            return
        # Listed before subscribing: a topic created in between counts as late, never as old.
        self._existing = frozenset(self.consumer.list_topics(timeout=METADATA_TIMEOUT).topics)
        if spec.pattern is not None:
            body = spec.pattern.removeprefix("^").removesuffix("$")
            if not any(re.fullmatch(body, name) for name in self._existing):
                self.missing = (spec.pattern,)
            # librdkafka takes a regex only when it starts with ^; Kestra's pattern matches whole names.
            self.consumer.subscribe([f"^({body})$"], on_assign=self._on_assign)
        else:
            self.missing = tuple(t for t in spec.topics if t not in self._existing)
            self.consumer.subscribe(list(spec.topics), on_assign=self._on_assign)

    def _late_topic(self, topic: str) -> bool:
        return topic in self._late or (self._existing is not None and topic not in self._existing)

    def _partitions(self) -> list[TopicPartition]:
        if self.spec.partitions:
            return [TopicPartition(t, p) for t in self.spec.topics for p in self.spec.partitions]
        metadata = self.consumer.list_topics(timeout=METADATA_TIMEOUT)
        out: list[TopicPartition] = []
        for topic in self.spec.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise KafkaException(f"topic {topic!r} does not exist on {self.spec.config['bootstrap.servers']}: "
                                     "create it, or check `topic`")
            out += [TopicPartition(topic, p) for p in sorted(found.partitions)]
        return out

    def _starting_offsets(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Committed offsets of the group first; then ``since``; then the beginning, as Kestra does when it
        assigns partitions itself or the topic is late; a subscription otherwise leaves the choice to
        ``auto.offset.reset``."""
        committed: dict[tuple[str, int], int] = {}
        if self.spec.group_id is not None:
            for tp in self.consumer.committed(partitions, timeout=METADATA_TIMEOUT):
                if tp.offset >= 0:
                    committed[(tp.topic, tp.partition)] = tp.offset
        by_time: dict[tuple[str, int], int] = {}
        missing = [tp for tp in partitions if (tp.topic, tp.partition) not in committed]
        if self.spec.since_ms is not None and missing:
            asked = [TopicPartition(tp.topic, tp.partition, self.spec.since_ms) for tp in missing]
            for tp in self.consumer.offsets_for_times(asked, timeout=METADATA_TIMEOUT):
                # -1: no record at or after the instant; start at the end then.
                by_time[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else -1
        starts: list[TopicPartition] = []
        for tp in partitions:
            where = (tp.topic, tp.partition)
            otherwise = OFFSET_BEGINNING if self._existing is None or self._late_topic(tp.topic) else OFFSET_INVALID
            offset = committed.get(where, by_time.get(where, otherwise))
            starts.append(TopicPartition(tp.topic, tp.partition, offset))
            self._starts[where] = offset
        return starts

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        late = any(self._late_topic(tp.topic) for tp in partitions)
        if (self.spec.since_ms is not None or late) and partitions:
            consumer.assign(self._starting_offsets(partitions))
        self.assigned.set()

    def behind(self) -> bool:
        """Whether an assigned partition still has records past this consumer's position: a poll that
        came back empty then only means the fetch is slow (a busy broker), not that the topic is drained."""
        try:
            assignment = self.consumer.assignment()
            for tp in self.consumer.position(assignment) if assignment else ():
                low, high = self.consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=5)
                if self._next_offset(tp, low, high) < high:
                    return True
        except KafkaException as exc:
            log.debug("kafka_lag_unknown", error=str(exc))
        return False

    def _next_offset(self, tp: TopicPartition, low: int, high: int) -> int:
        if tp.offset >= 0:
            return int(tp.offset)
        start = self._starts.get((tp.topic, tp.partition))
        if start is None and self.spec.group_id is not None:
            start = self.consumer.committed([tp], timeout=5)[0].offset
        if start is not None and start >= 0:
            return int(start)
        if start == OFFSET_BEGINNING:
            return low
        if start is None or start == OFFSET_INVALID:
            return low if str(self.spec.config.get("auto.offset.reset", "latest")) in ("earliest", "smallest",
                                                                                       "beginning") else high
        return high

    def poll(self, timeout: float) -> Message | None:
        msg = self.consumer.poll(timeout)
        if msg is not None and self.missing and _topic_unavailable(msg):
            # What `missing` already says, repeated by librdkafka: the caller reported it once.
            log.debug("kafka_topic_unavailable", topic=msg.topic(), error=str(msg.error()))
            return None
        return msg

    def commit(self, offsets: Mapping[tuple[str, int], int], *, asynchronous: bool) -> None:
        """Commit the NEXT offsets to read (last consumed + 1) by partition."""
        if self.spec.group_id is None or not offsets:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        if asynchronous:
            self.consumer.commit(offsets=partitions, asynchronous=True)
        else:
            self.consumer.commit(offsets=partitions, asynchronous=False)

    def close(self) -> None:
        self.consumer.close()


def _topic_unavailable(msg: Message) -> bool:
    error: KafkaError | None = msg.error()
    return error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def missing_topics_message(opened: OpenConsumer) -> str:
    """One warning line for the topics (or the pattern) that did not exist when ``opened`` subscribed."""
    what = (f"no topic matches `{opened.spec.pattern}`" if opened.spec.pattern is not None
            else f"topic(s) {', '.join(opened.missing)} do not exist")
    return f"{what} yet on {opened.spec.config['bootstrap.servers']}: its records are read once it is created"


def record_error(msg: Message) -> KafkaError | None:
    """The error a polled message carries; raises when it is fatal, None when it is a real record."""
    error: KafkaError | None = msg.error()
    if error is None:
        return None
    if error.fatal():
        raise KafkaException(error)
    return error


def to_message(msg: Message, spec: ConsumerSpec) -> dict[str, Any] | None:
    """Kestra's message map of a record (key, value, topic, partition, offset, timestamp, headers);
    None when its headers do not match ``headerFilters``. Raises SerdeError when it cannot be read."""
    raw = msg.headers() or ()
    pairs = list(raw.items()) if isinstance(raw, dict) else list(raw)
    headers = [{k: _header_text(v)} for k, v in pairs]
    if spec.header_filters:
        last = {k: v for h in headers for k, v in h.items()}
        if any(last.get(k) != v for k, v in spec.header_filters.items()):
            return None
    _kind, millis = msg.timestamp()
    return {
        "key": deserialize(spec.key, msg.key()),
        "value": deserialize(spec.value, msg.value()),
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp": iso_millis(millis) if millis is not None and millis >= 0 else None,
        "headers": headers,
    }


def _header_text(value: str | bytes | None) -> str | None:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a record (never None for a record without an error)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaException(f"a record without a position: {msg.error()}")
    return topic, partition, offset


@dataclass
class Batch:
    """What one bounded consumption read: the messages kept and the next offsets to commit."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def first_offsets(self) -> dict[tuple[str, int], int]:
        firsts: dict[tuple[str, int], int] = {}
        for m in self.messages:
            firsts.setdefault((m["topic"], m["partition"]), m["offset"])
        return firsts


def consume_batch(opened: OpenConsumer, *, poll_seconds: float, max_records: int | None,
                  max_seconds: float | None, wait_assignment_seconds: float = METADATA_TIMEOUT) -> Batch:
    """Read until a poll of ``poll_seconds`` finds nothing (once partitions are assigned), ``max_records``
    were kept, or ``max_seconds`` passed."""
    batch = Batch()
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if max_seconds is not None and elapsed >= max_seconds:
            break
        if max_records is not None and len(batch.messages) >= max_records:
            break
        wait = poll_seconds if max_seconds is None else max(0.0, min(poll_seconds, max_seconds - elapsed))
        msg = opened.poll(wait)
        if msg is None:
            if elapsed > wait_assignment_seconds:
                break
            if opened.assigned.is_set() and not opened.behind():
                break
            continue
        if record_error(msg) is not None:
            log.warning("kafka_consume_error", error=str(msg.error()), topic=msg.topic())
            continue
        topic, partition, offset = position(msg)
        batch.next_offsets[(topic, partition)] = offset + 1
        try:
            message = to_message(msg, opened.spec)
        except SerdeError as exc:
            batch.skipped += 1
            log.warning("kafka_record_skipped", topic=topic, partition=partition, offset=offset, reason=str(exc))
            continue
        if message is not None:
            batch.messages.append(message)
    return batch
