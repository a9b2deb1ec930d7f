"""The Kafka plugins' pure parts: serdes as Kafka's Java (de)serializers write them, property validation
when a flow is loaded, and the consumer configuration the properties render into."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest
from kestra_stream_plugin_kafka import (
    Consume,
    Produce,
    RealtimeTrigger,
    SerdeError,
    SerdeType,
    Trigger,
    deserialize,
    iso_millis,
    plugins,
    resolve,
    serialize,
)

from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import load_flow


@pytest.mark.parametrize(("serde", "value", "raw"), [
    (SerdeType.STRING, "héllo", "héllo".encode()),
    (SerdeType.UTF8, "x", b"x"),
    (SerdeType.INTEGER, -2, struct.pack(">i", -2)),
    (SerdeType.LONG, 2**40, struct.pack(">q", 2**40)),
    (SerdeType.SHORT, 7, b"\x00\x07"),
    (SerdeType.DOUBLE, 1.25, struct.pack(">d", 1.25)),
    (SerdeType.FLOAT, 0.5, struct.pack(">f", 0.5)),
    (SerdeType.JSON, {"a": [1, None]}, b'{"a":[1,null]}'),
    (SerdeType.UUID, "12345678-1234-5678-1234-567812345678", bytes.fromhex("12345678123456781234567812345678")),
])
def test_values_are_written_as_kafkas_serializers_do_and_read_back(serde: SerdeType, value: Any, raw: bytes) -> None:
    assert serialize(serde, value) == raw
    assert deserialize(serde, raw) == value


def test_raw_bytes_are_read_as_base64_as_kestra_shows_a_byte_array() -> None:
    for serde in (SerdeType.BYTES, SerdeType.BYTE_ARRAY, SerdeType.BYTE_BUFFER):
        assert serialize(serde, "a\x00b") == b"a\x00b"
        assert serialize(serde, [0, 255]) == b"\x00\xff"
        assert deserialize(serde, b"\x00\xff") == base64.b64encode(b"\x00\xff").decode()


def test_null_keys_and_void_stay_null() -> None:
    assert serialize(SerdeType.STRING, None) is None
    assert serialize(SerdeType.VOID, "ignored") is None
    assert deserialize(SerdeType.JSON, None) is None


def test_a_map_under_a_string_serializer_is_sent_as_its_json_text() -> None:
    assert serialize(SerdeType.STRING, {"a": 1}) == b'{"a":1}'
    assert serialize(SerdeType.STRING, True) == b"true"


@pytest.mark.parametrize(("serde", "value", "message"), [
    (SerdeType.LONG, "twelve", "cannot be written as LONG"),
    (SerdeType.INTEGER, 1.5, "fractional"),
    (SerdeType.SHORT, 2**20, "cannot be written as SHORT"),
    (SerdeType.UUID, "nope", "not a UUID"),
    (SerdeType.BYTES, {"a": 1}, "needs text"),
])
def test_a_value_the_serializer_cannot_write_says_why(serde: SerdeType, value: Any, message: str) -> None:
    with pytest.raises(SerdeError, match=message):
        serialize(serde, value)


def test_bytes_of_the_wrong_width_or_not_json_cannot_be_read() -> None:
    with pytest.raises(SerdeError, match="exactly 8 bytes"):
        deserialize(SerdeType.LONG, b"\x00")
    with pytest.raises(SerdeError, match="not JSON"):
        deserialize(SerdeType.JSON, b"{oops")


def test_record_timestamps_read_as_kestra_shows_an_instant() -> None:
    assert iso_millis(1714557600123) == "2024-05-01T10:00:00.123Z"


def test_the_entry_point_lists_the_two_tasks_and_the_two_triggers() -> None:
    names = {cls.plugin.type for cls in plugins() if cls.plugin is not None}
    assert names == {"io.kestra.plugin.kafka.Produce", "io.kestra.plugin.kafka.Consume",
                     "io.kestra.plugin.kafka.Trigger", "io.kestra.plugin.kafka.RealtimeTrigger"}


def flow_with(plugin: dict[str, Any], *, as_trigger: bool = False) -> str:
    log = {"id": "log", "type": "io.kestra.plugin.core.log.Log", "message": "hi"}
    body: dict[str, Any] = {"id": "f", "namespace": "kafka.unit"}
    if as_trigger:
        body |= {"tasks": [log], "triggers": [{"id": "t", **plugin}]}
    else:
        body |= {"tasks": [{"id": "t", **plugin}]}
    return json.dumps(body)


BOOTSTRAP = {"bootstrap.servers": "localhost:9092"}


@pytest.mark.parametrize(("plugin", "message"), [
    ({"type": "io.kestra.plugin.kafka.Consume", "properties": BOOTSTRAP}, "one of `topic` or `topicPattern`"),
    ({"type": "io.kestra.plugin.kafka.Consume", "properties": BOOTSTRAP, "topic": "a", "topicPattern": "b.*"},
     "keep only one"),
    ({"type": "io.kestra.plugin.kafka.Consume", "properties": BOOTSTRAP, "topicPattern": "b.*"}, "needs a `groupId`"),
    ({"type": "io.kestra.plugin.kafka.Consume", "properties": BOOTSTRAP, "topic": "a", "valueDeserializer": "avro"},
     "AVRO.*not supported"),
    ({"type": "io.kestra.plugin.kafka.Consume", "properties": BOOTSTRAP, "topic": "a", "groupType": "SHARE"},
     "SHARE.*not supported"),
    ({"type": "io.kestra.plugin.kafka.Produce", "properties": BOOTSTRAP, "from": [], "keySerializer": "PROTOBUF"},
     "PROTOBUF.*not supported"),
    ({"type": "io.kestra.plugin.kafka.Produce", "properties": BOOTSTRAP, "from": [], "valueAvroSchema": "{}"},
     "Avro schemas are not supported"),
])
def test_unsupported_or_contradicting_properties_are_refused_when_the_flow_is_loaded(
        plugin: dict[str, Any], message: str) -> None:
    with pytest.raises(FlowValidationError, match=message):
        load_flow(flow_with(plugin))


def test_the_realtime_trigger_needs_a_group_id() -> None:
    plugin = {"type": "io.kestra.plugin.kafka.RealtimeTrigger", "properties": BOOTSTRAP, "topic": "a"}
    with pytest.raises(FlowValidationError, match="groupId"):
        load_flow(flow_with(plugin, as_trigger=True))


def test_kestra_property_names_load_with_numbers_turned_into_strings() -> None:
    flow = load_flow(flow_with({
        "type": "io.kestra.plugin.kafka.Trigger", "topic": ["a", "b"], "groupId": "g", "interval": "PT30S",
        "properties": {"bootstrap.servers": "localhost:9092", "max.poll.records": 50, "check.crcs": True},
        "keyDeserializer": "string", "valueDeserializer": "JSON", "maxRecords": 5, "maxDuration": "PT10S",
        "pollDuration": "PT1S", "since": "2024-05-01T00:00:00Z", "headerFilters": {"v": 2}}, as_trigger=True))
    trigger = (flow.triggers or [])[0]
    assert isinstance(trigger, Trigger)
    assert trigger.properties["max.poll.records"] == "50"
    assert trigger.properties["check.crcs"] == "true"
    assert trigger.key_deserializer == SerdeType.STRING
    assert trigger.header_filters == {"v": "2"}
    assert trigger.max_duration is not None and trigger.max_duration.total_seconds() == 10


def consume(**extra: Any) -> Consume:
    flow = load_flow(flow_with({"type": "io.kestra.plugin.kafka.Consume", "properties": BOOTSTRAP, **extra}))
    task = (flow.tasks or [])[0]
    assert isinstance(task, Consume)
    return task


def same(value: Any) -> Any:
    return value


def test_the_consumer_never_auto_commits_and_reads_committed_records_only() -> None:
    spec = resolve(consume(topic="a", groupId="g"), same)
    assert spec.group_id == "g"
    assert spec.config["group.id"] == "g"
    assert spec.config["enable.auto.commit"] == "false"
    assert spec.config["enable.auto.offset.store"] == "false"
    assert spec.config["isolation.level"] == "read_committed"
    assert "fetch.wait.max.ms" not in spec.config


def test_properties_may_override_the_defaults_and_a_group_may_come_from_them() -> None:
    task = consume(topic="a", properties={**BOOTSTRAP, "group.id": "from-props", "isolation.level": "read_uncommitted"})
    spec = resolve(task, same)
    assert spec.group_id == "from-props"
    assert spec.config["isolation.level"] == "read_uncommitted"


def test_without_a_group_the_consumer_gets_a_throwaway_id_and_no_group_offsets() -> None:
    spec = resolve(consume(topic=["a", "b"], partitions=[0, 2]), same)
    assert spec.group_id is None
    assert spec.config["group.id"].startswith("kestra-stream-")
    assert spec.topics == ("a", "b")
    assert spec.partitions == (0, 2)


def test_since_is_read_as_an_instant_in_epoch_milliseconds() -> None:
    spec = resolve(consume(topic="a", since="2024-05-01T10:00:00.123Z"), same)
    assert spec.since_ms == 1714557600123
    with pytest.raises(ValueError, match="not an ISO-8601 instant"):
        resolve(consume(topic="a", since="yesterday"), same)


def test_dynamic_properties_are_rendered_before_the_consumer_is_built() -> None:
    task = consume(topic="{{ t }}", groupId="{{ g }}", properties={"bootstrap.servers": "{{ b }}"})
    values = {"{{ t }}": "orders", "{{ g }}": "readers", "{{ b }}": "broker:9092"}

    def render(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return values.get(value, value) if isinstance(value, str) else value

    spec = resolve(task, render)
    assert (spec.topics, spec.group_id, spec.config["bootstrap.servers"]) == (("orders",), "readers", "broker:9092")


def test_a_missing_bootstrap_server_is_reported_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"must include `bootstrap\.servers`"):
        resolve(consume(topic="a", properties={"client.id": "x"}), same)


def test_the_realtime_consumer_asks_the_broker_to_answer_fetches_quickly() -> None:
    flow = load_flow(flow_with({"type": "io.kestra.plugin.kafka.RealtimeTrigger", "topic": "a", "groupId": "g",
                                "properties": BOOTSTRAP}, as_trigger=True))
    trigger = (flow.triggers or [])[0]
    assert isinstance(trigger, RealtimeTrigger)
    assert int(resolve(trigger, same, realtime=True).config["fetch.wait.max.ms"]) <= 10


def test_produce_accepts_a_list_a_map_or_a_file_uri_as_from() -> None:
    for source in ([{"value": 1}], {"value": 1}, "kestra:///a/b/file.jsonl"):
        flow = load_flow(flow_with({"type": "io.kestra.plugin.kafka.Produce", "properties": BOOTSTRAP,
                                    "topic": "t", "from": source}))
        task = (flow.tasks or [])[0]
        assert isinstance(task, Produce)
        assert task.from_ == source
