"""The indexer and execution search on a real Kafka and Elasticsearch (and the same queries on SQLite FTS5).

Three measurements, on fresh topics and indices (unique prefixes, dropped at the end):

* throughput — ``--executions`` execution snapshots (one per execution, realistic shape: labels,
  inputs, 3 task runs) produced to the executions topic first, then one ``KafkaIndexer`` started:
  documents per second from its start until every record is indexed and committed.
* lag at a steady rate — ``--rate`` executions per second for ``--seconds``, each as three snapshots
  (CREATED, RUNNING, final) produced as the executor would; the indexer's ``lag()`` (records produced
  but not yet indexed and committed) sampled every 100 ms.
* search latency — over the ``--executions`` documents, ``--queries`` searches with three filters
  (namespace with its children, two states, a 7-day start range) and a first page of 25 sorted by
  start date, timed by wall clock around ``search_executions``; the same queries on a
  ``SqliteRepository`` holding the same executions.

    .venv/bin/python benchmarks/bench_search.py [--executions 100000] [--json]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import Row, median, percentile, report
from confluent_kafka import Producer

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.indexer import IndexerSettings, KafkaIndexer
from kestra_stream.kafka import KafkaSettings, apply_topics, encode_state
from kestra_stream.log import configure_logging
from kestra_stream.models.execution import Attempt, Execution, TaskRun
from kestra_stream.models.state import State, StateHistory, StateType
from kestra_stream.search import (
    ElasticsearchRepository,
    ExecutionQuery,
    IndexBatch,
    Paging,
    SearchRepository,
    SqliteRepository,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMESPACES = [f"company.team{t}" + (f".sub{s}" if s else "") for t in range(8) for s in range(3)]
FINAL = [StateType.SUCCESS] * 6 + [StateType.FAILED, StateType.WARNING, StateType.KILLED]


def make_execution(rng: random.Random, index: int, state: StateType | None = None) -> Execution:
    namespace = rng.choice(NAMESPACES)
    flow_id = f"flow{rng.randrange(40)}"
    started = T0 + timedelta(seconds=rng.randrange(60 * 86400))
    current = state or rng.choice(FINAL)
    histories = [StateHistory(state=StateType.CREATED, date=started)]
    if current != StateType.CREATED:
        histories.append(StateHistory(state=StateType.RUNNING, date=started + timedelta(milliseconds=50)))
    if current.is_terminated:
        histories.append(StateHistory(state=current, date=started + timedelta(seconds=rng.randrange(1, 600))))
    execution_id = f"{uuid.UUID(int=rng.getrandbits(128)).hex[:22]}{index}"
    runs = tuple(TaskRun(id=f"{execution_id}-{t}", execution_id=execution_id, namespace=namespace, flow_id=flow_id,
                         task_id=f"task{t}", state=State(current=current, histories=tuple(histories)),
                         attempts=(Attempt(state=State(current=current, histories=tuple(histories))),),
                         outputs={"rows": rng.randrange(10_000), f"value{t}": "x" * 20})
                 for t in range(3) if current != StateType.CREATED)
    return Execution(id=execution_id, namespace=namespace, flow_id=flow_id,
                     labels={"env": rng.choice(["prod", "dev", "staging"]), "team": f"t{rng.randrange(20)}"},
                     inputs={"region": rng.choice(["eu-west", "us-east", "ap-south"]), "size": rng.randrange(100)},
                     state=State(current=current, histories=tuple(histories)), task_run_list=runs)


def produce_snapshots(kafka: KafkaSettings, executions: list[Execution]) -> None:
    producer = Producer(kafka.client_config(**{"linger.ms": 20, "compression.type": "lz4"}))
    topic = kafka.topic("executions")
    for execution in executions:
        while True:
            try:
                producer.produce(topic, key=execution.id.encode(),
                                 value=encode_state(ExecutionState(execution=execution)))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60):
        raise SystemExit("Kafka did not take every snapshot within 60 s")


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"gave up after {timeout}s waiting for the indexer")


def throughput(kafka: KafkaSettings, search: ElasticsearchRepository, executions: list[Execution]) -> list[Row]:
    produce_snapshots(kafka, executions)
    indexer = KafkaIndexer(kafka, search, IndexerSettings(group_id=f"bench-{uuid.uuid4().hex[:6]}",
                                                          batch_size=5000, batch_seconds=1.0))
    started = time.perf_counter()
    indexer.start()
    try:
        wait_until(lambda: indexer.indexed >= len(executions), 1800)
        elapsed = time.perf_counter() - started
    finally:
        indexer.stop()
    return [Row("indexing throughput (Kafka -> Elasticsearch)", len(executions) / elapsed, "docs/s",
                f"{len(executions):,} snapshots in {elapsed:.1f} s, batches of 5000")]


def steady_lag(kafka: KafkaSettings, search: ElasticsearchRepository, rate: int, seconds: int) -> list[Row]:
    indexer = KafkaIndexer(kafka, search, IndexerSettings(group_id=f"bench-lag-{uuid.uuid4().hex[:6]}",
                                                          batch_size=1000, batch_seconds=0.2,
                                                          lag_refresh_seconds=0.1))
    indexer.start()
    wait_until(lambda: indexer.lag() == 0 and indexer.indexed > 0, 600)
    rng = random.Random(7)
    producer = Producer(kafka.client_config(**{"linger.ms": 5}))
    topic = kafka.topic("executions")
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(indexer.lag())
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    begin = time.monotonic()
    produced = 0
    try:
        for tick in range(rate * seconds):
            due = begin + tick / rate
            time.sleep(max(0.0, due - time.monotonic()))
            for state in (StateType.CREATED, StateType.RUNNING, rng.choice(FINAL)):
                snapshot = make_execution(random.Random(tick), 10_000_000 + tick, state)
                producer.produce(topic, key=snapshot.id.encode(),
                                 value=encode_state(ExecutionState(execution=snapshot)))
                produced += 1
            producer.poll(0)
        producer.flush(30)
        late = time.monotonic() - begin - seconds  # how far production fell behind its schedule
        flushed = time.monotonic()
        wait_until(lambda: indexer.lag() == 0, 120)
        drained = time.monotonic() - flushed
    finally:
        done.set()
        sampler.join()
        indexer.stop()
    per_second = produced / seconds
    return [Row(f"indexer lag at {rate} executions/s ({per_second:.0f} snapshots/s), p50", median(samples),
                "records", f"{len(samples)} samples over {seconds} s"),
            Row(f"indexer lag at {rate} executions/s, p95", percentile(samples, 95), "records",
                f"= {percentile(samples, 95) / per_second * 1000:.0f} ms of production"),
            Row(f"indexer lag at {rate} executions/s, max", float(max(samples)), "records",
                f"drained {drained:.2f} s after the last snapshot (produced {late:.2f} s late)")]


def queries(count: int) -> list[ExecutionQuery]:
    rng = random.Random(11)
    found = []
    for _ in range(count):
        start = T0 + timedelta(days=rng.randrange(53))
        found.append(ExecutionQuery(namespace=f"company.team{rng.randrange(8)}",
                                    states=(StateType.SUCCESS, rng.choice([StateType.FAILED, StateType.WARNING])),
                                    start_date=start, end_date=start + timedelta(days=7), paging=Paging(size=25)))
    return found


def latency(name: str, repository: SearchRepository, count: int) -> list[Row]:
    timings: list[float] = []
    totals: list[int] = []
    for query in queries(count):
        started = time.perf_counter()
        page = repository.search_executions(query)
        timings.append((time.perf_counter() - started) * 1000)
        totals.append(page.total)
    detail = f"{count} queries, median {median([float(t) for t in totals]):.0f} hits of which 25 returned"
    return [Row(f"{name} search, 3 filters, p50", median(timings), "ms", detail),
            Row(f"{name} search, 3 filters, p95", percentile(timings, 95), "ms", "target < 50 ms")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--elasticsearch-url", default="http://localhost:9200")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(bootstrap_servers=args.bootstrap_servers, topic_prefix=f"bench-search-{tag}.")
    apply_topics(kafka)
    search = ElasticsearchRepository.connect(args.elasticsearch_url, prefix=f"bench-search-{tag}", timeout=60)
    search.setup()
    rng = random.Random(3)
    executions = [make_execution(rng, i) for i in range(args.executions)]
    rows: list[Row] = []
    try:
        rows += throughput(kafka, search, executions)
        search.refresh()
        latency("Elasticsearch", search, 20)  # warm the caches once
        rows += latency("Elasticsearch", search, args.queries)
        rows += steady_lag(kafka, search, args.rate, args.seconds)
        with tempfile.TemporaryDirectory() as home:
            sqlite = SqliteRepository(Path(home) / "search.db")
            started = time.perf_counter()
            for chunk in range(0, len(executions), 5000):
                sqlite.write(IndexBatch(executions=[(e, 1) for e in executions[chunk:chunk + 5000]]))
            elapsed = time.perf_counter() - started
            rows.append(Row("SQLite FTS5 write throughput", len(executions) / elapsed, "docs/s",
                            f"{len(executions):,} executions in batches of 5000"))
            rows += latency("SQLite FTS5", sqlite, args.queries)
            sqlite.close()
    finally:
        search.drop()
        search.close()
    report("bench_search", rows, {"executions": args.executions, "rate": args.rate, "seconds": args.seconds,
                                  "queries": args.queries, "partitions": kafka.partitions}, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
