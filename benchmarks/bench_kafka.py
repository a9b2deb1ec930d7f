"""The Kafka backend end to end, against the real broker: benchmark01 at a fixed rate, the 40-task flow.

Two measurements, each on a fresh topic prefix (``bench-<random>.``: its own topics, consumer
groups and changelogs, so runs never share state with another run or another user of the broker):

* rate — Kestra's ``benchmark01`` (OutputValues then Log, a flow output) with executions
  CREATED AT A FIXED RATE (``--rate`` per minute for ``--seconds``): each creation starts at its
  scheduled instant whether or not the previous one returned. Reported: executions per minute
  completed (first creation to last end), and p50/p95/p99 of creation-to-end latency by wall
  clock (from the create call to the client reading the final snapshot) and from the state
  history (CREATED to the final state, stamped by the executor and the worker), plus the p50 of
  the first and the last fifth of the creations: a rate is sustainable when the last fifth is no
  slower than the first (no backlog builds up).
* latency — ``sequential_40_logs`` (40 sequential Log tasks), one execution at a time: wall clock
  around ``create_execution`` + ``wait`` (the final snapshot and every log line read back), and
  the history. Target from issue 4: under 2 s.

Two topologies (``--topology``): ``inprocess`` runs a ``KafkaStack`` with the faust executor and
the worker in this process; ``processes`` starts ``python -m kestra_stream executor`` and
``python -m kestra_stream worker`` as child processes, this process being only the client.

    .venv/bin/python benchmarks/bench_kafka.py --rate 2000 --seconds 60
    .venv/bin/python benchmarks/bench_kafka.py --only latency --topology processes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import Row, flow_source, median, percentile, process_cpu_seconds, report

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.log import configure_logging
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType

NAMESPACE = "benchmarks"
RATE_FLOW = "benchmark01"
LATENCY_FLOW = "sequential_40_logs"
TOPOLOGIES = ("inprocess", "processes")
RATE_TARGET_PER_MINUTE = 2000.0
RATE_TARGET_P50_SECONDS = 0.5
LATENCY_TARGET_SECONDS = 2.0
# The first execution waits for the executor's consumer group to settle: generous on a loaded machine.
FIRST_WAIT_TIMEOUT = 180.0
WAIT_TIMEOUT = 120.0
STOP_GRACE_SECONDS = 30.0


# ----- topologies ------------------------------------------------------------------------------------
def fresh_settings(partitions: int, bootstrap_servers: str, worker_concurrency: int) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap_servers, topic_prefix=f"bench-{uuid.uuid4().hex[:12]}.",
                         partitions=partitions, worker_concurrency=worker_concurrency)


def component_command(component: str, settings: KafkaSettings, home: Path, profile: bool) -> list[str]:
    """How a component process is started: the CLI, optionally under cProfile (written on SIGTERM)."""
    python = [sys.executable]
    if profile:
        # The components stop on SIGTERM by returning from asyncio.run, so cProfile writes its file.
        python += ["-m", "cProfile", "-o", str(home / f"{component}.prof")]
    command = [*python, "-m", "kestra_stream", component, "--bootstrap-servers", settings.bootstrap_servers,
               "--topic-prefix", settings.topic_prefix, "--partitions", str(settings.partitions)]
    if component == "worker":
        command += ["--home", str(home / "worker-home")]
    return command


class Components:
    """Executor and worker child processes; their output goes to ``<home>/<component>.log``."""

    def __init__(self, settings: KafkaSettings, home: Path, *, profile: bool) -> None:
        self._settings = settings
        self._home = home
        self._profile = profile
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, components: Sequence[str]) -> None:
        env = {**os.environ, "KESTRA_STREAM_KAFKA_WORKER_CONCURRENCY": str(self._settings.worker_concurrency)}
        for component in components:
            with (self._home / f"{component}.log").open("wb") as out:
                self.children[component] = subprocess.Popen(
                    component_command(component, self._settings, self._home, self._profile),
                    stdout=out, stderr=subprocess.STDOUT, env=env)

    def check_alive(self) -> None:
        for component, child in self.children.items():
            if child.poll() is not None:
                tail = (self._home / f"{component}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"the {component} process exited with code {child.returncode}:\n{tail}")

    def cpu_seconds(self) -> dict[str, float]:
        return {name: process_cpu_seconds(child.pid) for name, child in self.children.items() if child.poll() is None}

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def profiles(self) -> dict[str, Path]:
        return {name: self._home / f"{name}.prof" for name in self.children
                if (self._home / f"{name}.prof").is_file()}


@dataclass
class Backend:
    stack: KafkaStack
    components: Components | None
    broker_pid: int | None = None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU used so far: the component processes, and this process (the client, and in-process everything)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        seconds = {"this process": usage.ru_utime + usage.ru_stime}
        if self.components is not None:
            seconds.update(self.components.cpu_seconds())
        if self.broker_pid is not None:
            # Shared: the broker also serves whatever else uses it meanwhile.
            seconds["broker (shared)"] = process_cpu_seconds(self.broker_pid)
        return seconds


def delete_run_topics(settings: KafkaSettings) -> list[str]:
    """Delete the topics this run created (its prefix, and faust's changelogs named after its app id).

    The broker is shared: hundreds of leftover benchmark topics would slow everyone's metadata calls.
    """
    from confluent_kafka.admin import AdminClient

    stem = settings.topic_prefix.rstrip("._-")
    admin = AdminClient(settings.client_config())
    names = [name for name in admin.list_topics(timeout=settings.connect_timeout_seconds).topics
             if name.startswith(stem)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()
    return names


@asynccontextmanager
async def running_backend(topology: str, settings: KafkaSettings, home: Path, *, profile: bool = False,
                          keep_topics: bool = False, broker_pid: int | None = None) -> AsyncIterator[Backend]:
    """A started stack (and, for ``processes``, its component processes), stopped on exit."""
    if topology not in TOPOLOGIES:
        raise SystemExit(f"unknown topology '{topology}': use one of {', '.join(TOPOLOGIES)}")
    separate = topology == "processes"
    stack = KafkaStack(settings, home=home, executor=not separate, worker=not separate)
    components: Components | None = None
    # The client applies the topics, so the component processes find them when they start.
    await stack.start()
    try:
        if separate:
            components = Components(settings, home, profile=profile)
            components.start(["executor", "worker"])
        yield Backend(stack, components, broker_pid)
    finally:
        if components is not None:
            components.stop()
            if profile:
                for name, path in components.profiles().items():
                    sys.stderr.write(f"--- profile: {name} process ---\n{profile_text(pstats.Stats(str(path)))}")
        await stack.stop()
        if not keep_topics:
            await asyncio.to_thread(delete_run_topics, settings)


# ----- measuring -------------------------------------------------------------------------------------
def history_seconds(execution: Execution) -> float:
    """Creation to final state, from the dates stamped on the execution's state history."""
    histories = execution.state.histories
    return (histories[-1].date - histories[0].date).total_seconds()


def check_success(execution: Execution, flow: str, task_runs: int) -> None:
    if execution.state.current != StateType.SUCCESS:
        raise SystemExit(f"an execution of '{flow}' ended {execution.state.current.value}, expected SUCCESS; "
                         f"run `kestra-stream execute benchmarks/flows/{flow}.yaml --backend kafka` to see why")
    if len(execution.task_run_list) != task_runs:
        raise SystemExit(f"'{flow}' ran {len(execution.task_run_list)} task runs, expected {task_runs}")


class EndClock:
    """Wall-clock instant at which the client reads each execution's finished snapshot (client thread)."""

    def __init__(self) -> None:
        self.ended: dict[str, float] = {}

    def __call__(self, state: ExecutionState) -> None:
        if state.finished and state.execution.id not in self.ended:
            self.ended[state.execution.id] = time.perf_counter()


async def warm_up(backend: Backend, flow: str, task_runs: int, count: int) -> None:
    """Unmeasured executions: the first one also waits out the consumer groups' first rebalance."""
    for i in range(count):
        if backend.components is not None:
            backend.components.check_alive()
        execution_id = await backend.stack.create_execution(NAMESPACE, flow)
        try:
            execution = await backend.stack.wait(execution_id, FIRST_WAIT_TIMEOUT if i == 0 else WAIT_TIMEOUT)
        except TimeoutError:
            if backend.components is not None:
                backend.components.check_alive()
            raise SystemExit(f"a warm-up execution of '{flow}' did not end within {FIRST_WAIT_TIMEOUT:.0f} s: "
                             "is the broker at the bootstrap servers up (`kestra-stream services status`)?") from None
        check_success(execution, flow, task_runs)


@dataclass
class RateRun:
    topology: str
    rate_per_minute: float
    seconds: float
    created: int
    ended: int
    span_seconds: float
    wall: list[float]
    history: list[float]
    creation_lag: list[float]
    create_call: list[float]
    cpu_seconds: dict[str, float]
    load: tuple[float, float]
    first_fifth_p50: float = 0.0
    last_fifth_p50: float = 0.0

    @property
    def completed_per_minute(self) -> float:
        return self.ended / self.span_seconds * 60 if self.span_seconds > 0 else 0.0


async def fixed_rate(backend: Backend, rate_per_minute: float, seconds: float, drain_seconds: float) -> RateRun:
    """``rate_per_minute`` creations of benchmark01 for ``seconds``, each at its scheduled instant."""
    stack = backend.stack
    clock = EndClock()
    stack.subscribe(clock)
    count = max(1, round(rate_per_minute * seconds / 60))
    interval = 60.0 / rate_per_minute
    created: dict[str, float] = {}
    order: list[str] = []
    lags: list[float] = []
    calls: list[float] = []
    cpu_before = backend.cpu_seconds()
    load_before = os.getloadavg()[0]

    async def create(scheduled: float) -> None:
        started = time.perf_counter()
        lags.append(started - scheduled)
        execution_id = await stack.create_execution(NAMESPACE, RATE_FLOW)
        calls.append(time.perf_counter() - started)
        created[execution_id] = started
        order.append(execution_id)

    first = time.perf_counter()
    pending: list[asyncio.Task[None]] = []
    for i in range(count):
        scheduled = first + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(create(scheduled)))
    await asyncio.gather(*pending)
    deadline = time.perf_counter() + drain_seconds
    while len(clock.ended.keys() & created.keys()) < count and time.perf_counter() < deadline:
        if backend.components is not None:
            backend.components.check_alive()
        await asyncio.sleep(0.05)
    done = [e for e in order if e in clock.ended]
    cpu_after = backend.cpu_seconds()
    executions = []
    for execution_id in done:
        state = stack.state(execution_id)
        assert state is not None
        check_success(state.execution, RATE_FLOW, 2)
        if (state.execution.outputs or {}).get("greeting") != "Hello World":
            raise SystemExit(f"'{RATE_FLOW}' returned outputs {state.execution.outputs}, "
                             "expected greeting 'Hello World'")
        executions.append(state.execution)
    last = max((clock.ended[e] for e in done), default=first)
    wall = [clock.ended[e] - created[e] for e in done]
    run = RateRun(topology="", rate_per_minute=rate_per_minute, seconds=seconds, created=count, ended=len(done),
                  span_seconds=last - first, wall=wall, history=[history_seconds(e) for e in executions],
                  creation_lag=lags, create_call=calls,
                  cpu_seconds={k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after},
                  load=(load_before, os.getloadavg()[0]))
    fifth = max(1, len(order) // 5)
    head = [clock.ended[e] - created[e] for e in order[:fifth] if e in clock.ended]
    tail = [clock.ended[e] - created[e] for e in order[-fifth:] if e in clock.ended]
    run.first_fifth_p50 = median(head) if head else float("inf")
    run.last_fifth_p50 = median(tail) if tail else float("inf")
    return run


@dataclass
class LatencyRun:
    topology: str
    wall: list[float] = field(default_factory=list)
    snapshot: list[float] = field(default_factory=list)
    history: list[float] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)


async def sequential_latency(backend: Backend, executions: int) -> LatencyRun:
    """The 40-task flow one execution at a time: wall to ``wait``'s return, to the final snapshot, history."""
    clock = EndClock()
    backend.stack.subscribe(clock)
    run = LatencyRun(topology="", load=(os.getloadavg()[0], 0.0))
    for _ in range(executions):
        started = time.perf_counter()
        execution_id = await backend.stack.create_execution(NAMESPACE, LATENCY_FLOW)
        execution = await backend.stack.wait(execution_id, WAIT_TIMEOUT)
        run.wall.append(time.perf_counter() - started)
        run.snapshot.append(clock.ended[execution_id] - started)
        check_success(execution, LATENCY_FLOW, 40)
        if len(backend.stack.logs(execution_id)) < 40:
            raise SystemExit(f"'{LATENCY_FLOW}' wrote {len(backend.stack.logs(execution_id))} log lines, expected 40")
        run.history.append(history_seconds(execution))
    run.load = (run.load[0], os.getloadavg()[0])
    return run


# ----- reporting -------------------------------------------------------------------------------------
def ms(seconds: float) -> float:
    return seconds * 1000


def profile_text(stats: pstats.Stats, top: int = 30) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def rate_rows(run: RateRun) -> list[Row]:
    sustained = (run.ended == run.created and run.completed_per_minute >= 0.95 * run.rate_per_minute
                 and run.last_fifth_p50 <= max(2 * run.first_fifth_p50, run.first_fifth_p50 + 0.1))
    wall_p50 = percentile(run.wall, 50) if run.wall else float("inf")
    target = (f"target >= {RATE_TARGET_PER_MINUTE:.0f}/min with p50 < {ms(RATE_TARGET_P50_SECONDS):.0f} ms: "
              + ("met" if sustained and run.completed_per_minute >= RATE_TARGET_PER_MINUTE * 0.95
                 and run.rate_per_minute >= RATE_TARGET_PER_MINUTE and wall_p50 < RATE_TARGET_P50_SECONDS
                 else "NOT met at this rate"))
    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in run.cpu_seconds.items())
    rows = [
        Row(f"{RATE_FLOW} [{run.topology}]: completed", run.completed_per_minute, "ex/min",
            f"{run.ended}/{run.created} ended, offered {run.rate_per_minute:.0f}/min for {run.seconds:.0f} s; "
            f"{'sustained' if sustained else 'NOT sustained'}; {target}",
            {"created": run.created, "ended": run.ended, "span_seconds": run.span_seconds,
             "sustained": sustained, "load_before": run.load[0], "load_after": run.load[1]}),
    ]
    for label, values in (("wall", run.wall), ("history", run.history)):
        if values:
            rows.append(Row(f"{RATE_FLOW} [{run.topology}]: {label} p50/p95/p99", ms(percentile(values, 50)), "ms",
                            f"p95 {ms(percentile(values, 95)):.0f} ms, p99 {ms(percentile(values, 99)):.0f} ms, "
                            f"max {ms(max(values)):.0f} ms",
                            {"samples_ms": [round(ms(v), 2) for v in values]}))
    rows.append(Row(f"{RATE_FLOW} [{run.topology}]: wall p50 first/last fifth", ms(run.first_fifth_p50), "ms",
                    f"last fifth {ms(run.last_fifth_p50):.0f} ms (growing = backlog)"))
    rows.append(Row(f"{RATE_FLOW} [{run.topology}]: create call p50", ms(percentile(run.create_call, 50)), "ms",
                    f"p99 {ms(percentile(run.create_call, 99)):.0f} ms; creation start lag p99 "
                    f"{ms(percentile(run.creation_lag, 99)):.1f} ms"))
    per_execution = sum(v for k, v in run.cpu_seconds.items() if not k.startswith("broker")) / max(1, run.ended)
    rows.append(Row(f"{RATE_FLOW} [{run.topology}]: CPU per execution (Python)", ms(per_execution), "ms",
                    f"{cpu}; load {run.load[0]:.2f} -> {run.load[1]:.2f}", {"cpu_seconds": run.cpu_seconds}))
    return rows


def latency_rows(runs: Sequence[LatencyRun]) -> list[Row]:
    rows = []
    for run in runs:
        met = "met" if median(run.wall) < LATENCY_TARGET_SECONDS else "NOT met"
        for label, values in (("wall create->wait", run.wall), ("wall create->final snapshot", run.snapshot),
                              ("history CREATED->end", run.history)):
            detail = (f"{len(values)} executions; p95 {ms(percentile(values, 95)):.0f} ms, "
                      f"min {ms(min(values)):.0f} ms, max {ms(max(values)):.0f} ms; "
                      f"load {run.load[0]:.2f} -> {run.load[1]:.2f}")
            if label.startswith("wall create->wait"):
                detail += f"; target median < {ms(LATENCY_TARGET_SECONDS):.0f} ms: {met}"
            rows.append(Row(f"{LATENCY_FLOW} [{run.topology}]: {label}", ms(median(values)), "ms", detail,
                            {"samples_ms": [round(ms(v), 2) for v in values]}))
    return rows


# ----- driving ---------------------------------------------------------------------------------------
async def run_topology(args: argparse.Namespace, topology: str, rows: list[Row]) -> None:
    settings = fresh_settings(args.partitions, args.bootstrap_servers, args.worker_concurrency)
    with tempfile.TemporaryDirectory(prefix="kestra-stream-bench-kafka-") as home:
        async with running_backend(topology, settings, Path(home), profile=args.profile,
                                   keep_topics=args.keep_topics, broker_pid=args.broker_pid) as backend:
            profiler = cProfile.Profile() if args.profile and topology == "inprocess" else None
            if args.only in (None, "latency"):
                backend.stack.deploy(flow_source(LATENCY_FLOW))
                await warm_up(backend, LATENCY_FLOW, 40, args.warmup)
                if profiler is not None:
                    profiler.enable()
                latency = await sequential_latency(backend, args.latency_executions)
                if profiler is not None:
                    profiler.disable()
                latency.topology = topology
                rows.extend(latency_rows([latency]))
            if args.only in (None, "rate"):
                backend.stack.deploy(flow_source(RATE_FLOW))
                await warm_up(backend, RATE_FLOW, 2, args.warmup)
                for rate in args.rate:
                    if profiler is not None:
                        profiler.enable()
                    run = await fixed_rate(backend, rate, args.seconds, args.drain_seconds)
                    if profiler is not None:
                        profiler.disable()
                    run.topology = topology
                    rows.extend(rate_rows(run))
            if profiler is not None:
                sys.stderr.write(f"--- profile: {topology}, this process ---\n"
                                 f"{profile_text(pstats.Stats(profiler), args.top)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["rate", "latency"], help="run one of the two measurements")
    parser.add_argument("--topology", choices=[*TOPOLOGIES, "both"], default="inprocess",
                        help="components in this process, as separate processes, or one run of each")
    parser.add_argument("--rate", type=float, action="append",
                        help="benchmark01 creations per minute (repeatable: one run per rate; default 2000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long executions are created at each rate")
    parser.add_argument("--drain-seconds", type=float, default=60.0,
                        help="how long to wait for the last executions to end after the last creation")
    parser.add_argument("--latency-executions", type=int, default=20,
                        help="measured executions of the 40-task flow (one at a time)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured executions before each measurement")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the execution-keyed topics")
    parser.add_argument("--worker-concurrency", type=int, default=16, help="attempts a worker runs at once")
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--broker-pid", type=int,
                        help="also report the CPU of this process (the broker's JVM; shared with other users)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile: this process (inprocess) or each component process, to stderr")
    parser.add_argument("--top", type=int, default=30, help="entries of each profile to print")
    args = parser.parse_args(argv)
    args.rate = args.rate or [RATE_TARGET_PER_MINUTE]
    if min(args.rate) <= 0 or args.seconds <= 0 or args.latency_executions < 1 or args.warmup < 1:
        parser.error("--rate and --seconds must be positive, --latency-executions and --warmup at least 1")
    configure_logging(level="WARNING")
    topologies = list(TOPOLOGIES) if args.topology == "both" else [args.topology]
    rows: list[Row] = []
    for topology in topologies:
        asyncio.run(run_topology(args, topology, rows))
    settings: dict[str, Any] = {"topology": args.topology, "rates_per_minute": args.rate, "seconds": args.seconds,
                                "latency_executions": args.latency_executions, "warmup": args.warmup,
                                "partitions": args.partitions, "worker_concurrency": args.worker_concurrency,
                                "bootstrap_servers": args.bootstrap_servers}
    report("kafka backend end to end", rows, settings, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
