"""The Kafka RealtimeTrigger end to end: records on a real topic become executions, on both backends,
and a restart of the broker the trigger reads from loses no record and duplicates none."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kestra_stream.backend import Backend
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.models.state import StateType
from kestra_stream.services import ServicesSettings, down, up
from kestra_stream.triggers._realtime import LatestFlows, RealtimeTriggers

pytestmark = pytest.mark.kafka

NS = "realtime.kafka"
RECORDS = 20


def flow_source(bootstrap: str, topic: str, group: str, *, earliest: bool = True) -> str:
    properties = {"bootstrap.servers": bootstrap, **({"auto.offset.reset": "earliest"} if earliest else {})}
    return json.dumps({
        "id": "on_record", "namespace": NS,
        "tasks": [{"id": "log", "type": "io.kestra.plugin.core.log.Log", "message": "n={{ trigger.value.n }}"}],
        "triggers": [{"id": "records", "type": "io.kestra.plugin.kafka.RealtimeTrigger", "topic": topic,
                      "groupId": group, "valueDeserializer": "JSON", "keyDeserializer": "STRING",
                      "properties": properties}]})


def create_topic(bootstrap: str, partitions: int) -> str:
    return create_named_topic(bootstrap, f"test-realtime-{uuid.uuid4().hex[:12]}", partitions)


def create_named_topic(bootstrap: str, name: str, partitions: int) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(30)
    return name


def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [n for n in admin.list_topics(timeout=30).topics if n.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(30)


def produce(producer: Producer, topic: str, numbers: range) -> None:
    for n in numbers:
        producer.produce(topic, key=f"k{n}".encode(), value=json.dumps({"n": n}).encode(),
                         headers=[("origin", b"test")])
    assert producer.flush(120) == 0


class Executions:
    """Executions started by a trigger, each once, whichever thread the backend reports from."""

    def __init__(self, backend: Backend) -> None:
        self._lock = threading.Lock()
        self.by_id: dict[str, dict[str, Any]] = {}
        self.seen_at: dict[str, float] = {}  # time.monotonic() of each execution's first snapshot
        backend.subscribe(self._on_state)

    def _on_state(self, state: ExecutionState) -> None:
        execution = state.execution
        if execution.trigger is not None:
            with self._lock:
                self.by_id.setdefault(execution.id, execution.trigger["variables"])
                self.seen_at.setdefault(execution.id, time.monotonic())

    async def until(self, count: int, within: float) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + within
        while len(self.by_id) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.by_id)} of {count} executions after {within} s")
            await asyncio.sleep(0.05)
        with self._lock:
            return dict(self.by_id)


async def check_one_execution_per_record(backend: Backend, flows: LatestFlows, storage: Any, bootstrap: str,
                                         topic: str) -> None:
    seen = Executions(backend)
    backend.deploy(flow_source(bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}"))
    async with RealtimeTriggers(backend, flows, storage, refresh_seconds=0.2):
        produce(Producer({"bootstrap.servers": bootstrap}), topic, range(RECORDS))
        executions = await seen.until(RECORDS, within=90)
        await asyncio.sleep(1)  # nothing more arrives
        assert len(seen.by_id) == RECORDS
    by_n = {v["value"]["n"]: (execution_id, v) for execution_id, v in executions.items()}
    assert sorted(by_n) == list(range(RECORDS))
    for n, (execution_id, variables) in by_n.items():
        assert variables["key"] == f"k{n}"
        assert variables["topic"] == topic
        assert variables["headers"] == [{"origin": "test"}]
        assert datetime.fromisoformat(variables["timestamp"]).tzinfo is not None
        finished = await backend.wait(execution_id, timeout=60)
        assert finished.state.current == StateType.SUCCESS
    positions = sorted((v["partition"], v["offset"]) for v in executions.values())
    assert len(set(positions)) == RECORDS
    assert {p for p, _o in positions} == {0, 1}


async def test_each_record_starts_one_execution_with_its_trigger_variables_on_the_embedded_engine(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = create_topic(kafka_bootstrap, partitions=2)
    try:
        async with EmbeddedEngine(tmp_path / "home") as engine:
            await check_one_execution_per_record(engine, engine.catalog, engine.storage, kafka_bootstrap, topic)
    finally:
        delete_topics(kafka_bootstrap, topic)


async def test_each_record_starts_one_execution_with_its_trigger_variables_on_the_kafka_backend(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = create_topic(kafka_bootstrap, partitions=2)
    prefix = f"e2e-rt-{uuid.uuid4().hex[:10]}."
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=2)
    try:
        async with KafkaStack(settings, home=tmp_path / "home") as stack:
            await check_one_execution_per_record(stack, stack.flows, stack.storage, kafka_bootstrap, topic)
    finally:
        delete_topics(kafka_bootstrap, topic)
        delete_topics(kafka_bootstrap, prefix.rstrip("."))


# ----- a topic created after the trigger subscribed ------------------------------------------------

def warnings_about(logs: list[dict[str, Any]], topic: str) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("warning", "error") and topic in json.dumps(e, default=str)]


async def until_warned(logs: list[dict[str, Any]], topic: str, within: float = 60) -> None:
    """Until the trigger said something about ``topic``: it has subscribed, and found it missing."""
    deadline = time.monotonic() + within
    while not warnings_about(logs, topic):
        if time.monotonic() > deadline:
            raise AssertionError(f"the trigger never said that {topic} is missing; logged: {logs[-20:]}")
        await asyncio.sleep(0.05)


async def test_a_trigger_deployed_before_its_topic_exists_starts_one_execution_per_record_produced_afterwards(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"test-realtime-late-{uuid.uuid4().hex[:12]}"
    try:
        with structlog.testing.capture_logs() as logs:
            async with EmbeddedEngine(tmp_path / "home") as engine:
                seen = Executions(engine)
                # No auto.offset.reset: librdkafka's "latest" must not skip the records that came with the topic.
                engine.deploy(flow_source(kafka_bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}", earliest=False))
                async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.2):
                    await until_warned(logs, topic)  # subscribed, to a topic that is not there
                    await asyncio.to_thread(create_named_topic, kafka_bootstrap, topic, 2)
                    first_produce = time.monotonic()
                    produce(Producer({"bootstrap.servers": kafka_bootstrap}), topic, range(RECORDS))
                    await seen.until(RECORDS, within=90)
        numbers = sorted(v["value"]["n"] for v in seen.by_id.values())
        assert numbers == list(range(RECORDS))
        late = {execution_id: round(at - first_produce, 1) for execution_id, at in seen.seen_at.items()
                if at - first_produce > 10}
        assert late == {}, f"executions started more than 10 s after the first record was produced: {late}"
        [warning] = warnings_about(logs, topic)
        assert "do not exist yet" in warning["event"]
        assert (warning["flow_id"], warning["trigger_id"], warning["namespace"]) == ("on_record", "records", NS)
    finally:
        delete_topics(kafka_bootstrap, topic)


async def test_a_missing_topic_is_reported_once_however_long_the_trigger_waits_for_it(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"test-realtime-absent-{uuid.uuid4().hex[:12]}"
    with structlog.testing.capture_logs() as logs:
        async with EmbeddedEngine(tmp_path / "home") as engine:
            engine.deploy(flow_source(kafka_bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}"))
            async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.2):
                await until_warned(logs, topic)
                # librdkafka reports the unknown topic again at metadata refreshes (every 2 s): let several pass.
                await asyncio.sleep(7)
    [warning] = warnings_about(logs, topic)
    assert f"topic(s) {topic} do not exist yet on {kafka_bootstrap}" in warning["event"]
    assert (warning["flow_id"], warning["trigger_id"]) == ("on_record", "records")


# ----- a broker restart ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def second_broker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[ServicesSettings]:
    """A broker of this test's own (home and ports), so stopping it leaves the shared one alone."""
    settings = ServicesSettings.load(tmp_path / "services", overrides={
        "kafka_port": free_port(), "kafka_controller_port": free_port(), "kafka_heap": "256m"})
    # The jars of the shared broker's launcher are reused when it has them (no second download).
    shared = ServicesSettings.load().service_dir("kafka") / "dist"
    if (shared / settings.kafka_version / ".complete").exists():
        (settings.service_dir("kafka")).mkdir(parents=True)
        own = settings.service_dir("kafka") / "dist" / settings.kafka_version
        shutil.copytree(shared / settings.kafka_version, own, symlinks=True)
    try:
        up(["kafka"], settings=settings)
        yield settings
    finally:
        down(["kafka"], settings=settings)


async def test_a_broker_restart_loses_no_record_and_starts_no_duplicate_execution(
        second_broker: ServicesSettings, tmp_path: Path) -> None:
    bootstrap = second_broker.endpoint("kafka")
    topic = create_topic(bootstrap, partitions=2)
    # The producer keeps what it could not send while the broker is down, and sends it afterwards.
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 300000, "enable.idempotence": True})
    async with EmbeddedEngine(tmp_path / "home") as engine:
        seen = Executions(engine)
        engine.deploy(flow_source(bootstrap, topic, "restart-group"))
        async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.2):
            produce(producer, topic, range(10))
            await seen.until(10, within=90)
            await asyncio.to_thread(down, ["kafka"], settings=second_broker)
            for n in range(10, 20):
                producer.produce(topic, key=f"k{n}".encode(), value=json.dumps({"n": n}).encode())
            await asyncio.sleep(2)  # the trigger polls (and fails to commit) against no broker
            await asyncio.to_thread(up, ["kafka"], settings=second_broker)
            await asyncio.to_thread(producer.flush, 120)
            executions = await seen.until(20, within=180)
            await asyncio.sleep(2)  # a redelivered record would show up now
        numbers = sorted(v["value"]["n"] for v in seen.by_id.values())
        assert numbers == list(range(20)), f"expected each of 0..19 once, got {numbers}"
        positions = {(v["partition"], v["offset"]) for v in executions.values()}
        assert len(positions) == 20
