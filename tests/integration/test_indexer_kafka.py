"""The Kafka indexer against a real broker and a real Elasticsearch: order, restarts, an outage."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from confluent_kafka import Producer

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.indexer import IndexedHistory, IndexerSettings, KafkaIndexer
from kestra_stream.kafka import (
    KafkaExecutions,
    KafkaFlowStore,
    KafkaSettings,
    apply_topics,
    encode_log,
    encode_state,
    flow_key,
)
from kestra_stream.models.state import StateType
from kestra_stream.search import ElasticsearchRepository, ExecutionQuery, FlowQuery, LogQuery, Paging, TriggerQuery
from tests.integration._search_data import T0, execution, flows, logs, triggers

pytestmark = [pytest.mark.kafka, pytest.mark.elasticsearch]

FAST = IndexerSettings(batch_size=200, batch_seconds=0.2, retry_initial_seconds=0.1, retry_max_seconds=0.5,
                       lag_refresh_seconds=0)


def group(name: str) -> str:
    return f"it-indexer-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaSettings:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"it-idx-{uuid.uuid4().hex[:8]}.",
                             partitions=2)
    apply_topics(settings)
    return settings


@pytest.fixture
def search(elasticsearch_url: str) -> Iterator[ElasticsearchRepository]:
    repository = ElasticsearchRepository.connect(elasticsearch_url, prefix=f"it-idx-{uuid.uuid4().hex[:8]}")
    repository.setup()
    yield repository
    repository.drop()
    repository.close()


def produce(kafka: KafkaSettings, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = Producer(kafka.client_config())
    for logical, key, value in records:
        producer.produce(kafka.topic(logical), key=key, value=value)
    assert producer.flush(10) == 0


def snapshots(execution_id: str, *states: StateType) -> list[tuple[str, bytes, bytes]]:
    return [("executions", execution_id.encode(),
             encode_state(ExecutionState(execution=execution(execution_id, "it.ns", "flow", state, started=T0))))
            for state in states]


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout}s: {check.__doc__ or check}")


def states_of(search: ElasticsearchRepository) -> dict[str, StateType]:
    search.refresh()
    page = search.search_executions(ExecutionQuery(paging=Paging(size=1000)))
    return {e.id: e.state.current for e in page.items}


def test_every_topic_is_indexed_and_the_latest_state_of_each_execution_kept(
        kafka: KafkaSettings, search: ElasticsearchRepository) -> None:
    records = snapshots("a", StateType.CREATED, StateType.RUNNING, StateType.SUCCESS)
    records += snapshots("b", StateType.CREATED, StateType.RUNNING, StateType.FAILED)
    records += [("logs", item.entry.execution_id.encode(), encode_log(item.entry)) for item in logs()]
    records += [("flows", flow_key(f.namespace, f.id), f.model_dump_json().encode()) for f in flows()]
    records += [("triggers", t.uid.encode(), t.model_dump_json().encode()) for t in triggers()]
    produce(kafka, records)
    indexer = KafkaIndexer(kafka, search, FAST.model_copy(update={"group_id": group("all")}))
    indexer.start()
    try:
        eventually(lambda: indexer.indexed == len(records))
        eventually(lambda: indexer.lag() == 0)
    finally:
        indexer.stop()
    assert states_of(search) == {"a": StateType.SUCCESS, "b": StateType.FAILED}
    assert search.search_logs(LogQuery(execution_id="ex1")).total == 4
    assert [(f.id, f.revision) for f in search.search_flows(FlowQuery()).items] == [
        ("etl", 2), ("report", 1), ("ingest", 3)]
    assert search.search_triggers(TriggerQuery()).total == 4


def test_states_delivered_again_after_newer_ones_never_replace_them(
        kafka: KafkaSettings, search: ElasticsearchRepository) -> None:
    produce(kafka, snapshots("x", StateType.CREATED, StateType.RUNNING, StateType.SUCCESS))
    first = KafkaIndexer(kafka, search, FAST.model_copy(update={"group_id": group("first")}))
    first.start()
    try:
        eventually(lambda: indexer_done(first, 3))
    finally:
        first.stop()
    # A second group reads every snapshot again, oldest first, after the newest is indexed.
    second = KafkaIndexer(kafka, search, FAST.model_copy(update={"group_id": group("second"), "batch_size": 1}))
    second.start()
    try:
        eventually(lambda: indexer_done(second, 3))
    finally:
        second.stop()
    assert states_of(search) == {"x": StateType.SUCCESS}


async def test_an_execution_deleted_before_the_indexer_read_its_snapshots_never_shows_in_the_index(
        kafka: KafkaSettings, search: ElasticsearchRepository) -> None:
    produce(kafka, snapshots("late", StateType.CREATED, StateType.RUNNING, StateType.SUCCESS))
    executions = KafkaExecutions(kafka, KafkaFlowStore(kafka), follow=False)
    await executions.start()
    try:
        # The API's delete, while no indexer has read a snapshot yet.
        await IndexedHistory(kafka, search, executions).delete_execution("late")
    finally:
        await executions.stop()
    indexer = KafkaIndexer(kafka, search, FAST.model_copy(update={"group_id": group("late"), "batch_size": 1}))
    seen: list[dict[str, StateType]] = []
    indexer.start()
    try:
        # One snapshot a batch: each is written, and looked for, before the tombstone is read.
        deadline = time.monotonic() + 60
        while not indexer_done(indexer, 4):
            assert time.monotonic() < deadline, f"the indexer read {indexer.indexed} of the 4 records in 60 s"
            seen.append(await asyncio.to_thread(states_of, search))
    finally:
        indexer.stop()
    assert all(not found for found in seen) and states_of(search) == {}


def indexer_done(indexer: KafkaIndexer, records: int) -> bool:
    return indexer.indexed >= records


def test_a_restarted_indexer_resumes_from_committed_offsets_with_no_gap(
        kafka: KafkaSettings, search: ElasticsearchRepository) -> None:
    settings = FAST.model_copy(update={"group_id": group("resume")})
    produce(kafka, [r for i in range(10) for r in snapshots(f"e{i}", StateType.RUNNING)])
    before = KafkaIndexer(kafka, search, settings)
    before.start()
    try:
        eventually(lambda: indexer_done(before, 10))
    finally:
        before.stop()
    produce(kafka, [r for i in range(10, 25) for r in snapshots(f"e{i}", StateType.RUNNING, StateType.SUCCESS)])
    after = KafkaIndexer(kafka, search, settings)
    after.start()
    try:
        eventually(lambda: indexer_done(after, 30))
        eventually(lambda: after.lag() == 0)
    finally:
        after.stop()
    assert after.indexed == 30  # nothing read twice: it started at the committed offsets
    found = states_of(search)
    assert sorted(found) == sorted(f"e{i}" for i in range(25))
    assert [found[f"e{i}"] for i in range(10, 25)] == [StateType.SUCCESS] * 15


class Proxy:
    """A TCP port forwarding to Elasticsearch that can be down: what the indexer sees of an outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        self._spawn(self._accept, server)

    def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._spawn(self._pipe, client, upstream)
            self._spawn(self._pipe, upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def test_elasticsearch_down_the_lag_grows_then_drains_and_nothing_is_lost(
        kafka: KafkaSettings, search: ElasticsearchRepository, elasticsearch_url: str) -> None:
    host, port = elasticsearch_url.rsplit("//", 1)[1].split(":")
    proxy = Proxy((host, int(port.rstrip("/"))))
    through_proxy = ElasticsearchRepository.connect(f"http://127.0.0.1:{proxy.port}", prefix=search.prefix,
                                                    timeout=2)
    indexer = KafkaIndexer(kafka, through_proxy, FAST.model_copy(update={"group_id": group("outage")}))
    produce(kafka, [r for i in range(20) for r in snapshots(f"o{i}", StateType.RUNNING, StateType.SUCCESS)])
    indexer.start()
    try:
        eventually(lambda: indexer.retries >= 3 and indexer.lag() >= 40)
        produce(kafka, [r for i in range(20, 30) for r in snapshots(f"o{i}", StateType.SUCCESS)])
        eventually(lambda: indexer.lag() >= 50)
        assert indexer.indexed == 0
        proxy.up()
        eventually(lambda: indexer.indexed == 50 and indexer.lag() == 0)
    finally:
        indexer.stop()
        proxy.down()
        through_proxy.close()
    found = states_of(search)
    assert found == {f"o{i}": StateType.SUCCESS for i in range(30)}
    assert search.count_by_state(ExecutionQuery(start_date=T0 - timedelta(days=1))) == {StateType.SUCCESS: 30}
