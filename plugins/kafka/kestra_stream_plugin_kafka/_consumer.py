"""What Consume, Trigger and RealtimeTrigger share: their properties and how they resolve into one
consumer's settings. The consumer itself is in ``_client`` (which imports confluent-kafka): a flow
that uses no Kafka plugin does not pay for that import.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.task import not_implemented
from kestra_stream_plugin_kafka._serdes import SerdeType, parse_serde

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

log = structlog.get_logger(__name__)

# librdkafka's own log lines (broker down, reconnecting ...) go through logging, hence structlog.
_LIBRDKAFKA = logging.getLogger("kestra_stream_plugin_kafka.librdkafka")
METADATA_TIMEOUT = 30.0
# librdkafka looks for topics created after a subscription (new matches of a pattern above all) only
# when it refreshes its metadata, by default every 5 minutes. Every 2 s costs one small Metadata
# request per consumer (only the subscribed topics; every topic for a pattern), and a trigger on a
# topic its producers create sees it within seconds. `properties` may set another interval.
METADATA_REFRESH_MS = "2000"


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
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
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


def iso_millis(millis: int) -> str:
    """A record timestamp as Kestra's JSON shows an Instant: ``2024-05-01T10:00:00.123Z``."""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
