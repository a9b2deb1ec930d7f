"""``io.kestra.plugin.kafka.Produce`` and ``io.kestra.plugin.kafka.Consume``.

Produce sends records given as a list of maps, one map, or a ``kestra://`` file of JSON lines
(Kestra's own tasks write ION there; kestra-stream reads JSON lines only, one record map a line).
Consume writes the records it reads to a JSON-lines file in internal storage (Kestra writes ION)
and outputs its ``uri`` and ``messagesCount``; a consumer group's offsets are committed only
once that file is stored.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from kestra_stream.durations import Duration
from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream.storage import PREFIX, StorageError
from kestra_stream.worker import task_file_uri
from kestra_stream_plugin_kafka._consumer import (
    ConnectionOptions,
    ConsumerOptions,
    ConsumerSpec,
    resolve,
    string_map,
)
from kestra_stream_plugin_kafka._serdes import SerdeError, SerdeType, parse_serde, serialize

if TYPE_CHECKING:
    from kestra_stream_plugin_kafka._client import OpenConsumer

FLUSH_TIMEOUT = 60.0

_PRODUCE_EXAMPLE = """id: kafka_produce
namespace: company.team
tasks:
  - id: produce
    type: io.kestra.plugin.kafka.Produce
    properties:
      bootstrap.servers: localhost:9092
    topic: orders
    from:
      - key: order-1
        value: {"amount": 12}
        headers:
          source: kestra
    keySerializer: STRING
    valueSerializer: JSON
"""

_CONSUME_EXAMPLE = """id: kafka_consume
namespace: company.team
tasks:
  - id: consume
    type: io.kestra.plugin.kafka.Consume
    topic: orders
    properties:
      bootstrap.servers: localhost:9092
      auto.offset.reset: earliest
    groupId: orders-reader
    valueDeserializer: JSON
    maxRecords: 50
"""


class Produce(ConnectionOptions, RunnableTask):
    """Send records to Kafka; outputs ``messagesCount``."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.kafka.Produce", short="kafka.Produce", title="Send records to Kafka topics.",
        examples=(_PRODUCE_EXAMPLE,))

    topic: str | None = Field(default=None, description="Topic of records that name none themselves.")
    from_: Any = Field(alias="from", description="Records: a list of maps, one map, or a kestra:// file of "
                                                 "JSON lines. A record has key, value, headers, topic, "
                                                 "partition and timestamp.")
    key_serializer: SerdeType = Field(default=SerdeType.STRING, description="How keys are written.")
    value_serializer: SerdeType = Field(default=SerdeType.STRING, description="How values are written.")
    key_avro_schema: str | None = Field(default=None, description="Refused: AVRO is not supported.")
    value_avro_schema: str | None = Field(default=None, description="Refused: AVRO is not supported.")
    transactional: bool = Field(default=True, description="Send every record in one Kafka transaction.")

    @field_validator("key_serializer", "value_serializer", mode="before")
    @classmethod
    def _serde(cls, value: Any, info: Any) -> Any:
        return parse_serde(value, "keySerializer" if info.field_name == "key_serializer" else "valueSerializer")

    @field_validator("key_avro_schema", "value_avro_schema")
    @classmethod
    def _no_avro(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("Avro schemas are not supported by kestra-stream (no schema registry client); "
                             "remove it and use JSON")
        return value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        from confluent_kafka import KafkaException

        records = await self._records(ctx)
        default_topic = ctx.render_string(self.topic) if self.topic is not None else None
        prepared = [self._prepare(ctx, record, default_topic, i) for i, record in enumerate(records)]
        config: dict[str, Any] = dict(string_map(ctx.render(dict(self.properties))))
        if self.transactional:
            config["transactional.id"] = f"kestra-stream-{uuid.uuid4().hex}"
        try:
            await asyncio.to_thread(_send, config, prepared, self.transactional)
        except KafkaException as exc:
            raise TaskFailure(f"producing to Kafka failed: {exc}", task_id=self.id) from exc
        ctx.log(LogLevel.DEBUG, f"{len(prepared)} record(s) sent to Kafka")
        return {"messagesCount": len(prepared)}

    async def _records(self, ctx: RunContext) -> list[Mapping[str, Any]]:
        source = ctx.render(self.from_)
        if isinstance(source, str) and source.startswith(PREFIX):
            try:
                text = (await ctx.storage.get(source)).decode()
            except StorageError as exc:
                raise TaskFailure(f"cannot read `from` {source}: {exc}", task_id=self.id) from exc
            return [self._line(line, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if isinstance(source, str):
            try:
                source = json.loads(source)
            except ValueError:
                raise TaskFailure(f"`from` must be a list of records, a record map or a kestra:// file URI, got "
                                  f"the text {source[:80]!r}", task_id=self.id) from None
        if isinstance(source, Mapping):
            return [source]
        if isinstance(source, list) and all(isinstance(r, Mapping) for r in source):
            return source
        raise TaskFailure(f"`from` must be a list of records (maps), a record map or a kestra:// file URI, got "
                          f"{type(source).__name__}", task_id=self.id)

    def _line(self, line: str, number: int) -> Mapping[str, Any]:
        try:
            record = json.loads(line)
        except ValueError:
            raise TaskFailure(f"line {number} of the `from` file is not JSON: kestra-stream reads JSON lines (one "
                              "record map a line), not Kestra's ION; convert the file first", task_id=self.id) from None
        if not isinstance(record, Mapping):
            raise TaskFailure(f"line {number} of the `from` file is not a record map", task_id=self.id)
        return record

    def _prepare(self, ctx: RunContext, record: Mapping[str, Any], default_topic: str | None,
                 index: int) -> dict[str, Any]:
        topic = record.get("topic", default_topic)
        if not topic:
            raise TaskFailure(f"record {index} names no topic: set `topic` on the task or on the record",
                              task_id=self.id)
        try:
            out: dict[str, Any] = {"topic": ctx.render_string(topic),
                                   "key": serialize(self.key_serializer, record.get("key")),
                                   "value": serialize(self.value_serializer, record.get("value"))}
        except SerdeError as exc:
            raise TaskFailure(f"record {index}: {exc}", task_id=self.id) from exc
        if record.get("partition") is not None:
            out["partition"] = int(record["partition"])
        if record.get("timestamp") is not None:
            out["timestamp"] = _timestamp_ms(record["timestamp"], index, self.id)
        if record.get("headers") is not None:
            out["headers"] = _headers(record["headers"], index, self.id)
        return out


def _send(config: dict[str, Any], records: list[dict[str, Any]], transactional: bool) -> None:
    from confluent_kafka import KafkaException, Producer

    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(config)
    if transactional:
        producer.init_transactions(FLUSH_TIMEOUT)
        producer.begin_transaction()
    try:
        for record in records:
            producer.produce(**record, on_delivery=delivered)
            producer.poll(0)
        if transactional:
            producer.commit_transaction(FLUSH_TIMEOUT)
        left = producer.flush(FLUSH_TIMEOUT)
    except KafkaException:
        if transactional:
            producer.abort_transaction(FLUSH_TIMEOUT)
        raise
    if failures:
        raise KafkaException(f"{len(failures)} record(s) were not delivered: {failures[0]}")
    if left:
        raise KafkaException(f"{left} record(s) still unsent after {FLUSH_TIMEOUT:.0f} s: is the broker reachable?")


def _timestamp_ms(value: Any, index: int, task_id: str) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    raise TaskFailure(f"record {index}: timestamp {value!r} is neither epoch milliseconds nor an ISO-8601 instant",
                      task_id=task_id)


def _headers(value: Any, index: int, task_id: str) -> list[tuple[str, bytes]]:
    # A map, or the list of one-entry maps Consume and the triggers output.
    pairs: list[tuple[Any, Any]]
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(h, Mapping) for h in value):
        pairs = [item for h in value for item in h.items()]
    else:
        raise TaskFailure(f"record {index}: headers must be a map or a list of one-entry maps", task_id=task_id)
    return [(str(k), str(v).encode()) for k, v in pairs]


class Consume(ConsumerOptions, RunnableTask):
    """Read records into a JSON-lines file of internal storage; outputs ``uri`` and ``messagesCount``."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.kafka.Consume", short="kafka.Consume",
        title="Read Kafka records into internal storage.", examples=(_CONSUME_EXAMPLE,))

    poll_duration: Duration = Field(default=timedelta(seconds=5),
                                    description="How long a poll waits for records; an empty poll ends the task.")
    max_records: int | None = Field(default=None, ge=1, description="Stop after this many records.")
    max_duration: Duration | None = Field(default=None, description="Stop after this long.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        from confluent_kafka import KafkaException

        from kestra_stream_plugin_kafka._client import consume_batch, missing_topics_message

        try:
            spec = resolve(self, ctx.render)
        except ValueError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc
        opened = await asyncio.to_thread(_open, spec, self.id)
        if opened.missing:
            ctx.log(LogLevel.WARN, missing_topics_message(opened))
        try:
            batch = await asyncio.to_thread(
                consume_batch, opened, poll_seconds=self.poll_duration.total_seconds(), max_records=self.max_records,
                max_seconds=self.max_duration.total_seconds() if self.max_duration else None)
            target = ctx.working_directory() / f"{secrets.token_hex(8)}.jsonl"
            with target.open("w") as out:
                for message in batch.messages:
                    out.write(json.dumps(message, ensure_ascii=False) + "\n")
            uri = await ctx.storage.put(task_file_uri(ctx, "records.jsonl"), target)
            # Committed only now: a crash before this point reads the same records again.
            await asyncio.to_thread(opened.commit, batch.next_offsets, asynchronous=False)
        except KafkaException as exc:
            raise TaskFailure(f"consuming from Kafka failed: {exc}", task_id=self.id) from exc
        finally:
            await asyncio.to_thread(opened.close)
        if batch.skipped:
            ctx.log(LogLevel.WARN, f"{batch.skipped} record(s) could not be deserialized and were skipped")
        return {"uri": uri, "messagesCount": len(batch.messages)}


def _open(spec: ConsumerSpec, task_id: str) -> OpenConsumer:
    from confluent_kafka import KafkaException

    from kestra_stream_plugin_kafka._client import OpenConsumer

    try:
        return OpenConsumer(spec)
    except KafkaException as exc:
        raise TaskFailure(f"cannot open the Kafka consumer: {exc}", task_id=task_id) from exc
