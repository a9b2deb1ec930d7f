"""What Consume, Trigger and RealtimeTrigger share: their properties, the consumer they open, its
subscription, and how one record becomes Kestra's message map.

Every function here that touches the broker blocks; callers run them on a thread (a task's or a
trigger's own), never on the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

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
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.task import not_implemented
from kestra_stream_plugin_kafka._serdes import SerdeError, SerdeType, deserialize, parse_serde

log = structlog.get_logger(__name__)

# librdkafka's own log lines (broker down, reconnecting ...) go through logging, hence structlog.
_LIBRDKAFKA = logging.getLogger("kestra_stream_plugin_kafka.librdkafka")
METADATA_TIMEOUT = 30.0


def string_map(value: Any) -> Any:
    """Kafka client properties are strings; YAML gives numbers and booleans for some of them."""
    if isinstance(value, Mapping):
        return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
    return value


class OnSerdeError(BaseModel):
    """What to do with a record that cannot be deserialized: only ``SKIPPED`` (logged, then passed)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True, validate_by_alias=True,
                              validate_by_name=False, serialize_by_alias=True)

    type: Literal["SKIPPED"] = Field(default="SKIPPED", description="SKIPPED: log the record and go on.")
    topic: str | None = None

    @field_validator("topic")
    @classmethod
    def _no_dead_letter_topic(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(not_implemented("onSerdeError.topic", "records that cannot be read are logged and "
                                                                   "skipped, not sent to another topic; remove it"))
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _only_skipped(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in ("DLQ", "STORE"):
            raise ValueError(f"`onSerdeError.type: {value}` is not supported by kestra-stream; only SKIPPED is")
        return value


class ConnectionOptions(PluginModel):
    """``properties`` (any librdkafka setting, ``bootstrap.servers`` first) and ``serdeProperties``."""

    properties: dict[str, str] = Field(description="Kafka client properties; must include `bootstrap.servers`.")
    serde_properties: dict[str, str] = Field(
        default_factory=dict, description="Serializer properties; kept for Kestra compatibility, unused "
                                          "(no schema registry).")

    @field_validator("properties", "serde_properties", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return string_map(value)


class ConsumerOptions(ConnectionOptions):
    """The consumer properties of Consume, Trigger and RealtimeTrigger, with Kestra's names."""

    topic: str | list[str] | None = Field(default=None, description="Topic(s) to consume; or `topicPattern`.")
    topic_pattern: str | None = Field(default=None, description="A regex of topics to subscribe to (needs groupId).")
    partitions: list[int] | None = Field(default=None, description="Only these partitions (assigned, no group).")
    group_id: str | None = Field(default=None, description="Consumer group: offsets are committed and resumed.")
    group_type: Literal["CONSUMER"] = Field(default="CONSUMER", description="Only CONSUMER (classic groups).")
    key_deserializer: SerdeType = Field(default=SerdeType.STRING, description="How keys are read.")
    value_deserializer: SerdeType = Field(default=SerdeType.STRING, description="How values are read.")
    since: str | None = Field(default=None, description="ISO-8601 instant to start at when no offset is committed.")
    header_filters: dict[str, str] | None = Field(default=None, description="Only records with these headers.")
    on_serde_error: OnSerdeError | None = None

    @field_validator("key_deserializer", "value_deserializer", mode="before")
    @classmethod
    def _serde(cls, value: Any, info: Any) -> Any:
        return parse_serde(value, to_camel(info.field_name))

    @field_validator("group_type", mode="before")
    @classmethod
    def _group_type(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() == "SHARE":
            raise ValueError("`groupType: SHARE` (Kafka share groups) is not supported by kestra-stream; "
                             "use CONSUMER")
        return value.upper() if isinstance(value, str) else value

    @field_validator("header_filters", mode="before")
    @classmethod
    def _header_strings(cls, value: Any) -> Any:
        return string_map(value)

    @model_validator(mode="after")
    def _one_subscription(self) -> ConsumerOptions:
        if self.topic is None and self.topic_pattern is None:
            raise ValueError("set one of `topic` or `topicPattern`")
        if self.topic is not None and self.topic_pattern is not None:
            raise ValueError("both `topic` and `topicPattern` are set; keep only one of them")
        if self.topic_pattern is not None and self.group_id is None:
            raise ValueError("`topicPattern` needs a `groupId`")
        if self.topic_pattern is not None and self.partitions is not None:
            raise ValueError("`partitions` only apply to `topic`, not to `topicPattern`")
        return self


@dataclass(frozen=True)
class ConsumerSpec:
    """``ConsumerOptions`` rendered: what a consumer is opened with."""

    config: dict[str, Any]
    topics: tuple[str, ...]
    pattern: str | None
    partitions: tuple[int, ...]
    group_id: str | None
    since_ms: int | None
    key: SerdeType
    value: SerdeType
    header_filters: dict[str, str] = field(default_factory=dict)


def resolve(options: ConsumerOptions, render: Callable[[Any], Any], *, realtime: bool = False) -> ConsumerSpec:
    """Render the options' dynamic properties and build the consumer's configuration."""
    properties = string_map(render(dict(options.properties)))
    if not properties.get("bootstrap.servers"):
        raise ValueError("`properties` must include `bootstrap.servers` (e.g. localhost:9092)")
    group_id = _text(render(options.group_id)) if options.group_id is not None else properties.get("group.id")
    topics: tuple[str, ...] = ()
    if options.topic is not None:
        raw = render(options.topic)
        topics = tuple(_text(t) for t in (raw if isinstance(raw, list) else [raw]))
        if not topics or not all(topics):
            raise ValueError(f"`topic` rendered empty ({raw!r}); name at least one topic")
    pattern = _text(render(options.topic_pattern)) if options.topic_pattern is not None else None
    since = _since_ms(_text(render(options.since))) if options.since is not None else None
    config: dict[str, Any] = {
        # A consumer without a group still needs an id in librdkafka; it is never committed to.
        "group.id": group_id or f"kestra-stream-{uuid.uuid4().hex}",
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "isolation.level": "read_committed",
        "logger": _LIBRDKAFKA,
        "error_cb": _log_error,
    }
    if realtime:
        # A fetch that finds nothing returns within this: a new record waits at most this long at the broker.
        config["fetch.wait.max.ms"] = "10"
    config.update({k: v for k, v in properties.items() if k != "group.id"})
    filters = string_map(render(dict(options.header_filters))) if options.header_filters else {}
    return ConsumerSpec(config=config, topics=topics, pattern=pattern, partitions=tuple(options.partitions or ()),
                        group_id=group_id, since_ms=since, key=options.key_deserializer,
                        value=options.value_deserializer, header_filters=filters)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _since_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"`since: {text}` is not an ISO-8601 instant (e.g. 2024-05-01T00:00:00Z)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _log_error(error: KafkaError) -> None:
    log.warning("kafka_client_error", error=str(error), fatal=error.fatal(), retriable=error.retriable())


class OpenConsumer:
    """A consumer subscribed (or assigned) as its spec says; ``assigned`` is set once it has partitions."""

    def __init__(self, spec: ConsumerSpec) -> None:
        self.spec = spec
        self.assigned = threading.Event()
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
        if spec.pattern is not None:
            body = spec.pattern.removeprefix("^").removesuffix("$")
            # librdkafka takes a regex only when it starts with ^; Kestra's pattern matches whole names.
            self.consumer.subscribe([f"^({body})$"], on_assign=self._on_assign)
        elif spec.group_id is not None and not spec.partitions:
            self.consumer.subscribe(list(spec.topics), on_assign=self._on_assign)
        else:
            self.consumer.assign(self._starting_offsets(self._partitions()))
            self.assigned.set()

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
        """Committed offsets of the group first; then ``since``; then the beginning, as Kestra does."""
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
            offset = committed.get(where, by_time.get(where, OFFSET_BEGINNING))
            starts.append(TopicPartition(tp.topic, tp.partition, offset))
            self._starts[where] = offset
        return starts

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.spec.since_ms is not None and partitions:
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
        return self.consumer.poll(timeout)

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


def iso_millis(millis: int) -> str:
    """A record timestamp as Kestra's JSON shows an Instant: ``2024-05-01T10:00:00.123Z``."""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
