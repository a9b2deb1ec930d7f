"""benchmark01 started through its webhook under load, against the REST API of a backend.

The API (``create_app``) is served over real HTTP by aiohttp's ``AppRunner`` on a free local
port, in this process, in front of a ``KafkaStack`` (executor and worker in this process too, on
fresh topics ``bench-<random>.`` deleted afterwards) or, with ``--backend embedded``, an
``EmbeddedEngine``. ``--clients`` concurrent HTTP clients (one ``aiohttp.ClientSession``, a
connection each) then POST ``/api/v1/executions/webhook/benchmarks/benchmark01/benchmark`` until
``--requests`` calls were made, each client starting its next call when the previous answered
(closed loop). Reported:

* accepted executions/s: calls answered 200 over the time from the first call to the last answer;
* latency of the webhook call (p50/p95/p99): what a caller waits for its 200;
* time until every accepted execution ended, from the first call, and the executions/s that makes;
* how many ended in SUCCESS (all of them, or the run says so and exits non-zero).

Everything shares this machine's CPUs (the load generator, the API, the executor, the worker and
the broker), so the figures are a floor for a deployment with separate hosts.

    .venv/bin/python benchmarks/bench_webhook.py --clients 16 --requests 2000
    .venv/bin/python benchmarks/bench_webhook.py --backend embedded --requests 500 --json
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _harness import Row, flow_source, percentile, report
from aiohttp import web

from kestra_stream.api import ApiServices, ApiSettings, create_app
from kestra_stream.backend import Backend, FlowRepository
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.log import configure_logging
from kestra_stream.models.state import StateType
from kestra_stream.plugins import default_registry
from kestra_stream.search import SqliteRepository
from kestra_stream.storage import Storage

FLOW = "benchmark01"
NAMESPACE = "benchmarks"
KEY = "benchmark"
BACKENDS = ("kafka", "embedded")
FIRST_WAIT_TIMEOUT = 180.0
WAIT_TIMEOUT = 300.0


@dataclass
class Served:
    url: str
    backend: Backend


@asynccontextmanager
async def _kafka(args: argparse.Namespace, home: Path) -> AsyncIterator[tuple[Backend, FlowRepository, Storage]]:
    settings = KafkaSettings(bootstrap_servers=args.bootstrap_servers, topic_prefix=f"bench-{uuid.uuid4().hex[:12]}.",
                             partitions=args.partitions, worker_concurrency=args.worker_concurrency)
    stack = KafkaStack(settings, home=home)
    await stack.start()
    try:
        yield stack, stack.flows, stack.storage
    finally:
        await stack.stop()
        if not args.keep_topics:
            from bench_kafka import delete_run_topics

            await asyncio.to_thread(delete_run_topics, settings)


@asynccontextmanager
async def _embedded(args: argparse.Namespace, home: Path) -> AsyncIterator[tuple[Backend, FlowRepository, Storage]]:
    async with EmbeddedEngine(home, worker_concurrency=args.worker_concurrency) as engine:
        yield engine, engine.flows, engine.storage


@asynccontextmanager
async def served(args: argparse.Namespace, home: Path) -> AsyncIterator[Served]:
    """The chosen backend with benchmark01 deployed, and the API listening on a free local port."""
    parts = _kafka(args, home) if args.backend == "kafka" else _embedded(args, home)
    async with parts as (backend, flows, storage):
        flows.deploy(flow_source(FLOW), file=f"benchmarks/flows/{FLOW}.yaml")
        search = SqliteRepository(":memory:")  # the webhook never searches; the API wants one
        services = ApiServices(backend=backend, flows=flows, search=search, storage=storage,
                               registry=default_registry(), settings=ApiSettings(), backend_name=args.backend)
        runner = web.AppRunner(create_app(services), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Served(f"http://127.0.0.1:{port}/api/v1/executions/webhook/{NAMESPACE}/{FLOW}/{KEY}", backend)
        finally:
            await runner.cleanup()
            search.close()


@dataclass
class LoadRun:
    clients: int
    latencies: list[float] = field(default_factory=list)
    execution_ids: list[str] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    last_answer: float = 0.0
    all_ended: float = 0.0
    final_states: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return len(self.execution_ids)

    @property
    def accept_seconds(self) -> float:
        return self.last_answer - self.started

    @property
    def end_seconds(self) -> float:
        return self.all_ended - self.started


async def call(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, str | None]:
    async with session.post(url, json=body) as answer:
        if answer.status != 200:
            await answer.read()
            return answer.status, None
        payload = await answer.json()
        return answer.status, str(payload["id"])


async def warm_up(session: aiohttp.ClientSession, target: Served, count: int) -> None:
    """Unmeasured calls, each waited to its end: the first waits for consumer groups to settle."""
    for _ in range(count):
        status, execution_id = await call(session, target.url, {"warmup": True})
        if execution_id is None:
            raise SystemExit(f"the webhook answered {status} during the warm-up: is benchmark01's trigger there?")
        await target.backend.wait(execution_id, FIRST_WAIT_TIMEOUT)


async def load(target: Served, *, clients: int, requests: int, warmup: int) -> LoadRun:
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await warm_up(session, target, warmup)
        run = LoadRun(clients=clients)
        remaining = requests

        async def client(number: int) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter()
                status, execution_id = await call(session, target.url, {"client": number})
                answered = time.perf_counter()
                run.last_answer = max(run.last_answer, answered)
                if execution_id is None:
                    run.refused[status] = run.refused.get(status, 0) + 1
                    continue
                run.latencies.append(answered - began)
                run.execution_ids.append(execution_id)

        run.started = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
    ended = await asyncio.gather(*(target.backend.wait(i, WAIT_TIMEOUT) for i in run.execution_ids))
    run.all_ended = time.perf_counter()
    for execution in ended:
        state = execution.state.current.value
        run.final_states[state] = run.final_states.get(state, 0) + 1
    return run


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def rows_of(run: LoadRun) -> list[Row]:
    lat = run.latencies
    succeeded = run.final_states.get(StateType.SUCCESS.value, 0)
    return [
        Row("webhook calls accepted", run.accepted / run.accept_seconds, "executions/s",
            f"{run.accepted} answered 200 in {run.accept_seconds:.2f} s by {run.clients} clients",
            {"accepted": run.accepted, "refused": run.refused, "seconds": run.accept_seconds}),
        Row("webhook call latency p50", ms(percentile(lat, 50)), "ms", "", {"samples_ms": [ms(v) for v in lat]}),
        Row("webhook call latency p95", ms(percentile(lat, 95)), "ms"),
        Row("webhook call latency p99", ms(percentile(lat, 99)), "ms"),
        Row("all executions ended after", run.end_seconds, "s", "from the first call to the last end"),
        Row("executions ended", run.accepted / run.end_seconds, "executions/s",
            f"{succeeded}/{run.accepted} SUCCESS", {"final_states": run.final_states}),
    ]


async def measure(args: argparse.Namespace) -> LoadRun:
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as home:
        async with served(args, Path(home)) as target:
            return await load(target, clients=args.clients, requests=args.requests, warmup=args.warmup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, default="kafka")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (closed loop)")
    parser.add_argument("--requests", type=int, default=2000, help="webhook calls in all")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured calls, each waited to its end")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the execution-keyed topics")
    parser.add_argument("--worker-concurrency", type=int, default=16, help="attempts a worker runs at once")
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1:
        raise SystemExit("--clients and --requests must be at least 1")
    configure_logging(level="WARNING")
    run = asyncio.run(measure(args))
    settings = {"backend": args.backend, "clients": args.clients, "requests": args.requests,
                "warmup": args.warmup, "worker_concurrency": args.worker_concurrency}
    if args.backend == "kafka":
        settings["partitions"] = args.partitions
    report("benchmark01 through its webhook", rows_of(run), settings, as_json=args.json)
    failed = run.accepted - run.final_states.get(StateType.SUCCESS.value, 0)
    if run.refused or failed:
        sys.stderr.write(f"refused calls: {run.refused}; executions not in SUCCESS: {failed}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
