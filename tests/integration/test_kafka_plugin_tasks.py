"""Produce, Consume and the polling Trigger against the real broker, run by the embedded engine's worker."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from kestra_stream_plugin_kafka import Trigger

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import EmbeddedScheduler
from kestra_stream.triggers import BackendTriggerContext

pytestmark = pytest.mark.kafka

NS = "kafka.plugin"


class Topics:
    """Fresh topics on the shared broker, deleted when the test ends."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.created: list[str] = []

    def new(self, partitions: int = 1) -> str:
        name = f"test-kafka-plugin-{uuid.uuid4().hex[:12]}"
        for future in self.admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(30)
        self.created.append(name)
        return name

    def delete(self) -> None:
        if self.created:
            for future in self.admin.delete_topics(self.created, operation_timeout=30).values():
                future.result(30)


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[Topics]:
    made = Topics(kafka_bootstrap)
    yield made
    made.delete()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


def outputs_of(execution: Execution, task_id: str) -> dict[str, Any]:
    run = next(tr for tr in execution.task_run_list if tr.task_id == task_id)
    assert run.outputs is not None, f"task {task_id} has no outputs ({run.state.current})"
    return run.outputs


async def run_flow(engine: EmbeddedEngine, source: str) -> Execution:
    flow = engine.deploy(source)
    execution = await engine.wait(await engine.create_execution(flow.namespace, flow.id), timeout=60)
    assert execution.state.current == StateType.SUCCESS, [
        (tr.task_id, tr.state.current) for tr in execution.task_run_list]
    return execution


async def read_lines(engine: EmbeddedEngine, uri: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await engine.storage.get(uri)).decode().splitlines()]


def round_trip_flow(bootstrap: str, topic: str, serde: str, records: list[dict[str, Any]]) -> str:
    return json.dumps({
        "id": f"round_trip_{serde.lower()}", "namespace": NS,
        "tasks": [
            {"id": "produce", "type": "io.kestra.plugin.kafka.Produce", "topic": topic,
             "properties": {"bootstrap.servers": bootstrap}, "from": records,
             "keySerializer": "STRING", "valueSerializer": serde},
            {"id": "consume", "type": "io.kestra.plugin.kafka.Consume", "topic": topic,
             "properties": {"bootstrap.servers": bootstrap}, "pollDuration": "PT1S",
             "keyDeserializer": "STRING", "valueDeserializer": serde},
        ]})


@pytest.mark.parametrize(("serde", "sent", "read"), [
    ("STRING", ["héllo", "world"], ["héllo", "world"]),
    ("JSON", [{"a": 1, "b": [True, None]}, "text", 3.5], [{"a": 1, "b": [True, None]}, "text", 3.5]),
    ("LONG", [0, -1, 2**40], [0, -1, 2**40]),
    ("DOUBLE", [1.5, -0.25], [1.5, -0.25]),
    ("BYTES", ["raw\x00bytes"], [base64.b64encode(b"raw\x00bytes").decode()]),
])
async def test_produced_records_are_consumed_back_with_the_same_serde(
        engine: EmbeddedEngine, topics: Topics, serde: str, sent: list[Any], read: list[Any]) -> None:
    topic = topics.new()
    records = [{"key": f"k{i}", "value": v} for i, v in enumerate(sent)]
    execution = await run_flow(engine, round_trip_flow(topics.bootstrap, topic, serde, records))
    assert outputs_of(execution, "produce") == {"messagesCount": len(sent)}
    consumed = outputs_of(execution, "consume")
    assert consumed["messagesCount"] == len(sent)
    lines = await read_lines(engine, consumed["uri"])
    assert [line["value"] for line in lines] == read
    assert [line["key"] for line in lines] == [f"k{i}" for i in range(len(sent))]
    assert [line["offset"] for line in lines] == list(range(len(sent)))
    assert all(line["topic"] == topic and line["partition"] == 0 for line in lines)


async def test_a_single_map_with_headers_partition_and_timestamp_is_one_record(
        engine: EmbeddedEngine, topics: Topics) -> None:
    topic = topics.new(partitions=2)
    record = {"key": "only", "value": "one", "headers": {"source": "kestra"}, "partition": 1,
              "timestamp": "2024-05-01T10:00:00.123Z"}
    execution = await run_flow(engine, round_trip_flow(topics.bootstrap, topic, "STRING", record))  # type: ignore[arg-type]
    lines = await read_lines(engine, outputs_of(execution, "consume")["uri"])
    assert lines == [{"key": "only", "value": "one", "topic": topic, "partition": 1, "offset": 0,
                      "timestamp": "2024-05-01T10:00:00.123Z", "headers": [{"source": "kestra"}]}]


async def test_produce_from_a_consumed_file_sends_its_records_again_with_their_headers(
        engine: EmbeddedEngine, topics: Topics) -> None:
    first = topics.new()
    bootstrap = {"bootstrap.servers": topics.bootstrap}
    source = json.dumps({"id": "copy", "namespace": NS, "tasks": [
        {"id": "seed", "type": "io.kestra.plugin.kafka.Produce", "topic": first, "properties": bootstrap,
         "valueSerializer": "JSON", "from": [{"key": "a", "value": {"n": 1}, "headers": {"h": "1"}},
                                              {"key": "b", "value": {"n": 2}}]},
        {"id": "read", "type": "io.kestra.plugin.kafka.Consume", "topic": first, "properties": bootstrap,
         "valueDeserializer": "JSON", "pollDuration": "PT1S"},
        # The file's records name their topic (the first one): a record's own topic wins over the task's.
        {"id": "copy", "type": "io.kestra.plugin.kafka.Produce", "properties": bootstrap,
         "valueSerializer": "JSON", "transactional": False, "from": "{{ outputs.read.uri }}"},
        {"id": "check", "type": "io.kestra.plugin.kafka.Consume", "topic": first, "properties": bootstrap,
         "valueDeserializer": "JSON", "pollDuration": "PT1S"},
    ]})
    execution = await run_flow(engine, source)
    assert outputs_of(execution, "copy") == {"messagesCount": 2}
    lines = await read_lines(engine, outputs_of(execution, "check")["uri"])
    # Both copies went to the topic named in the file: the two originals, then the two copies.
    assert [(line["key"], line["value"], line["headers"]) for line in lines] == [
        ("a", {"n": 1}, [{"h": "1"}]), ("b", {"n": 2}, []), ("a", {"n": 1}, [{"h": "1"}]), ("b", {"n": 2}, [])]


async def test_consume_with_a_group_commits_and_reads_only_new_records_next_time(
        engine: EmbeddedEngine, topics: Topics) -> None:
    topic = topics.new()
    group = f"g-{uuid.uuid4().hex[:8]}"
    source = json.dumps({"id": "grouped", "namespace": NS, "tasks": [
        {"id": "consume", "type": "io.kestra.plugin.kafka.Consume", "topic": topic, "groupId": group,
         "properties": {"bootstrap.servers": topics.bootstrap, "auto.offset.reset": "earliest"},
         "pollDuration": "PT1S", "maxRecords": 3}]})
    produce(topics.bootstrap, topic, [str(i) for i in range(5)])
    first = outputs_of(await run_flow(engine, source), "consume")
    second = outputs_of(await run_flow(engine, source), "consume")
    third = outputs_of(await run_flow(engine, source), "consume")
    assert (first["messagesCount"], second["messagesCount"], third["messagesCount"]) == (3, 2, 0)
    assert [line["value"] for line in await read_lines(engine, second["uri"])] == ["3", "4"]


async def test_an_avro_serializer_is_refused_when_the_flow_is_loaded(engine: EmbeddedEngine) -> None:
    from kestra_stream.errors import FlowValidationError

    source = json.dumps({"id": "avro", "namespace": NS, "tasks": [
        {"id": "p", "type": "io.kestra.plugin.kafka.Produce", "topic": "t", "from": [],
         "properties": {"bootstrap.servers": "localhost:1"}, "valueSerializer": "AVRO"}]})
    with pytest.raises(FlowValidationError, match=r"AVRO.*not supported"):
        engine.deploy(source)


def produce(bootstrap: str, topic: str, values: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=value.encode())
    assert producer.flush(30) == 0


async def test_polling_trigger_starts_one_execution_per_batch_and_commits_after_emitting(
        engine: EmbeddedEngine, topics: Topics) -> None:
    topic = topics.new(partitions=2)
    flow = engine.deploy(json.dumps({
        "id": "batches", "namespace": NS,
        "tasks": [{"id": "log", "type": "io.kestra.plugin.core.log.Log",
                   "message": "{{ trigger.messagesCount }} in {{ trigger.uri }}"}],
        "triggers": [{"id": "batch", "type": "io.kestra.plugin.kafka.Trigger", "topic": topic,
                      "groupId": f"g-{uuid.uuid4().hex[:8]}", "interval": "PT10S", "pollDuration": "PT1S",
                      "properties": {"bootstrap.servers": topics.bootstrap, "auto.offset.reset": "earliest"},
                      "maxRecords": 10}]}))
    trigger = flow.triggers[0] if flow.triggers else None
    assert isinstance(trigger, Trigger)
    ctx = BackendTriggerContext(engine, flow, trigger, engine.storage)
    created: list[str] = []

    def seen(state: ExecutionState) -> None:
        if state.execution.trigger and state.execution.id not in created:
            created.append(state.execution.id)

    engine.subscribe(seen)

    produce(topics.bootstrap, topic, [f"m{i}" for i in range(4)])
    assert await trigger.evaluate(ctx) is None  # it emitted the execution itself
    assert len(created) == 1
    assert await trigger.evaluate(ctx) is None  # nothing new: no second execution
    assert len(created) == 1
    produce(topics.bootstrap, topic, [f"n{i}" for i in range(12)])
    await trigger.evaluate(ctx)  # ten (maxRecords) ...
    assert len(created) == 2
    await trigger.evaluate(ctx)  # ... then the last two
    assert len(created) == 3
    counts = []
    for execution_id in created:
        execution = await engine.wait(execution_id, timeout=30)
        assert execution.state.current == StateType.SUCCESS
        assert execution.trigger is not None
        variables = execution.trigger["variables"]
        lines = await read_lines(engine, variables["uri"])
        assert len(lines) == variables["messagesCount"]
        counts.append(variables["messagesCount"])
        assert f"/executions/{execution_id}/trigger/batch/" in variables["uri"]
    assert counts == [4, 10, 2]


async def test_the_scheduler_polls_the_kafka_trigger_every_interval_into_one_execution_per_batch(
        engine: EmbeddedEngine, topics: Topics) -> None:
    topic = topics.new()
    engine.deploy(json.dumps({
        "id": "polled", "namespace": NS,
        "tasks": [{"id": "log", "type": "io.kestra.plugin.core.log.Log", "message": "{{ trigger.messagesCount }}"}],
        "triggers": [{"id": "batch", "type": "io.kestra.plugin.kafka.Trigger", "topic": topic,
                      "groupId": f"g-{uuid.uuid4().hex[:8]}", "interval": "PT1S", "pollDuration": "PT1S",
                      "properties": {"bootstrap.servers": topics.bootstrap, "auto.offset.reset": "earliest"}}]}))
    ended: list[Execution] = []
    engine.subscribe(lambda s: ended.append(s.execution) if s.finished and s.execution.flow_id == "polled" else None)
    produce(topics.bootstrap, topic, [f"m{i}" for i in range(5)])
    async with EmbeddedScheduler(engine, tick_seconds=0.2):
        for _ in range(300):
            if ended:
                break
            await asyncio.sleep(0.1)
        assert len(ended) == 1, "the polling trigger started no execution within 30 s"
        produce(topics.bootstrap, topic, [f"n{i}" for i in range(3)])
        for _ in range(300):
            if len(ended) == 2:
                break
            await asyncio.sleep(0.1)
    assert [e.trigger["variables"]["messagesCount"] for e in ended if e.trigger] == [5, 3]
    assert all(e.state.current == StateType.SUCCESS for e in ended)
