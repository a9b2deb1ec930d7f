"""The Kafka RealtimeTrigger on the Kafka backend: latency from a record produced to its execution created.

A ``KafkaStack`` (faust executor and worker in this process) on a fresh topic prefix, the
``RealtimeTriggers`` component listening to a fresh source topic with one flow, and a producer
sending ``--messages`` records at a steady ``--rate`` per second (each record at its scheduled
instant). For every record, two latencies from the record's timestamp (CreateTime, stamped by
the producer when ``produce`` is called):

* created — to the ExecutionCreated event's time (stamped when the trigger asks for the
  execution; the request is durable in the executor topic a produce acknowledgement later);
* visible — to the moment this process reads the execution's first state back from the
  execution topic (the executor folded the creation: the execution exists for every client).

Reported: p50/p95/p99/max of both; target p99 of ``created`` under 100 ms (issue 7). A few
unmeasured records first let the trigger's consumer group and the executor settle.

    .venv/bin/python benchmarks/bench_realtime.py --messages 2000 --rate 100
    .venv/bin/python benchmarks/bench_realtime.py --json > benchmarks/results/realtime.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _harness import Row, median, percentile, report
from bench_kafka import delete_run_topics
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.log import configure_logging
from kestra_stream.triggers._realtime import RealtimeTriggers

NAMESPACE = "benchmarks"
FLOW_ID = "realtime_trigger"
TARGET_P99_MS = 100.0
SETTLE_TIMEOUT = 180.0


def flow_source(bootstrap: str, topic: str) -> str:
    return json.dumps({
        "id": FLOW_ID, "namespace": NAMESPACE,
        "tasks": [{"id": "log", "type": "io.kestra.plugin.core.log.Log", "message": "{{ trigger.value }}"}],
        "triggers": [{"id": "records", "type": "io.kestra.plugin.kafka.RealtimeTrigger", "topic": topic,
                      "groupId": f"{topic}-trigger",
                      "properties": {"bootstrap.servers": bootstrap, "auto.offset.reset": "earliest"}}]})


@dataclass
class Samples:
    """Per record (by its value): created and visible latencies in milliseconds."""

    created_ms: dict[str, float] = field(default_factory=dict)
    visible_ms: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_state(self, state: ExecutionState) -> None:
        seen = time.time()
        execution = state.execution
        if execution.trigger is None or execution.flow_id != FLOW_ID:
            return
        variables = execution.trigger["variables"]
        value = str(variables["value"])
        with self.lock:
            if value in self.visible_ms:
                return
            produced = datetime.fromisoformat(variables["timestamp"]).timestamp()
            created = execution.state.histories[0].date.timestamp()
            self.created_ms[value] = (created - produced) * 1000
            self.visible_ms[value] = (seen - produced) * 1000

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for v in self.visible_ms if v.startswith(prefix))


async def produce_steadily(producer: Producer, topic: str, prefix: str, count: int, rate: float) -> None:
    """``count`` records at ``rate`` per second, each sent at its own scheduled instant."""
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        producer.produce(topic, value=f"{prefix}{i}".encode())
        producer.poll(0)
    await asyncio.to_thread(producer.flush, 60)


async def wait_for(samples: Samples, prefix: str, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while samples.count(prefix) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {samples.count(prefix)} of {count} '{prefix}' executions appeared in {within} s")
        await asyncio.sleep(0.05)


async def measure(settings: KafkaSettings, home: Path, *, messages: int, rate: float, warmup: int,
                  drain_seconds: float) -> Samples:
    """Run the stack and the trigger, send the warm-up then the measured records; the samples of the latter."""
    source_topic = f"{settings.topic_prefix}source"
    admin = AdminClient(settings.client_config())
    for future in admin.create_topics([NewTopic(source_topic, 1, 1)]).values():
        future.result(30)
    samples = Samples()
    producer = Producer(settings.client_config(**{"linger.ms": 0}))
    async with KafkaStack(settings, home=home) as stack:
        stack.subscribe(samples.on_state)
        stack.deploy(flow_source(settings.bootstrap_servers, source_topic))
        async with RealtimeTriggers(stack, stack.flows, stack.storage, refresh_seconds=0.2):
            await produce_steadily(producer, source_topic, "warmup-", warmup, rate)
            await wait_for(samples, "warmup-", warmup, SETTLE_TIMEOUT)
            await produce_steadily(producer, source_topic, "m-", messages, rate)
            await wait_for(samples, "m-", messages, drain_seconds)
    measured = Samples()
    measured.created_ms = {k: v for k, v in samples.created_ms.items() if k.startswith("m-")}
    measured.visible_ms = {k: v for k, v in samples.visible_ms.items() if k.startswith("m-")}
    return measured


def rows_of(samples: Samples) -> list[Row]:
    rows: list[Row] = []
    for name, values in (("created", list(samples.created_ms.values())),
                         ("visible", list(samples.visible_ms.values()))):
        p99 = percentile(values, 99)
        met = "met" if p99 < TARGET_P99_MS else "NOT met"
        detail = (f"p95 {percentile(values, 95):.1f} ms, p99 {p99:.1f} ms, max {max(values):.1f} ms, "
                  f"n={len(values)}" + (f"; target p99 < {TARGET_P99_MS:.0f} ms: {met}" if name == "created" else ""))
        rows.append(Row(f"produce -> execution {name}, p50", median(values), "ms", detail,
                        extra={"p50": median(values), "p95": percentile(values, 95), "p99": p99, "max": max(values),
                               "samples_ms": sorted(values)}))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="measured records")
    parser.add_argument("--rate", type=float, default=100.0, help="records per second")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured records sent first")
    parser.add_argument("--drain-seconds", type=float, default=120.0,
                        help="how long to wait for the last executions after the last record")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the execution-keyed topics")
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rate <= 0 or args.warmup < 1:
        parser.error("--messages and --warmup must be at least 1, --rate positive")
    configure_logging(level="WARNING")
    settings = KafkaSettings(bootstrap_servers=args.bootstrap_servers, partitions=args.partitions,
                             topic_prefix=f"bench-rt-{uuid.uuid4().hex[:10]}.")
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as home:
        try:
            samples = asyncio.run(measure(settings, Path(home), messages=args.messages, rate=args.rate,
                                          warmup=args.warmup, drain_seconds=args.drain_seconds))
        finally:
            if not args.keep_topics:
                delete_run_topics(settings)
    run_settings: dict[str, Any] = {"messages": args.messages, "rate_per_second": args.rate, "warmup": args.warmup,
                                    "partitions": args.partitions, "bootstrap_servers": args.bootstrap_servers,
                                    "backend": "kafka (executor and worker in process)"}
    report("Kafka RealtimeTrigger: produce to execution", rows_of(samples), run_settings, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
