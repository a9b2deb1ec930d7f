"""The embedded backend end to end: SQLite event log and states, the asyncio worker pool, real Log tasks.

Two measurements, each on a fresh ``EmbeddedEngine`` in a temporary directory:

* latency — ``sequential_40_logs`` (40 sequential Log tasks; ``--latency-flow`` picks another
  fixture), one execution at a time: deploy, ``create_execution``, ``wait``. Measured twice:
  from the execution's state history (CREATED to its final state, the times the engine stamped
  on the events) and by wall clock around ``create_execution`` + ``wait``. Target from issue 3:
  under 0.5 s.
* throughput — Kestra's ``benchmark01`` (OutputValues then Log): ``--executions`` executions
  created back to back as fast as ``create_execution`` returns (or with at most ``--in-flight``
  running), then executions per second from the first creation to the last end, and p50/p95/p99
  of creation-to-end latency (history and wall clock, the wall end taken when the engine
  publishes the finished state).

    .venv/bin/python benchmarks/bench_embedded.py [--only latency|throughput] [--json] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from _harness import Row, flow_source, median, percentile, report

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.log import configure_logging
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType

LATENCY_FLOW = "sequential_40_logs"
# Task runs each latency flow ends with: a run that ends with fewer did not run what it should.
LATENCY_FLOWS: dict[str, int] = {"sequential_40_logs": 40, "foreach_200_logs": 201, "foreach_200_logs_unlimited": 201}
THROUGHPUT_FLOW = "benchmark01"
TARGET_SECONDS = 0.5
WAIT_TIMEOUT = 120.0
T = TypeVar("T")


def history_seconds(execution: Execution) -> float:
    """Creation to final state, from the dates the engine stamped on the execution's state history."""
    histories = execution.state.histories
    return (histories[-1].date - histories[0].date).total_seconds()


def check_ended(execution: Execution, flow: str) -> None:
    if execution.state.current != StateType.SUCCESS:
        raise SystemExit(f"an execution of '{flow}' ended {execution.state.current.value}, expected SUCCESS; "
                         f"run it with `kestra-stream execute benchmarks/flows/{flow}.yaml` to see why")


class EndClock:
    """Wall-clock time at which each execution's finished state is published by the engine."""

    def __init__(self) -> None:
        self.ended: dict[str, float] = {}

    def __call__(self, state: ExecutionState) -> None:
        if state.finished and state.execution.id not in self.ended:
            self.ended[state.execution.id] = time.perf_counter()


@dataclass
class LatencyRun:
    flow: str
    history: list[float]
    wall: list[float]


async def latency(executions: int, warmup: int, home: Path, flow: str = LATENCY_FLOW) -> LatencyRun:
    async with EmbeddedEngine(home, worker_concurrency=16) as engine:
        engine.deploy(flow_source(flow))
        run = LatencyRun(flow=flow, history=[], wall=[])
        for i in range(warmup + executions):
            started = time.perf_counter()
            execution_id = await engine.create_execution("benchmarks", flow)
            execution = await engine.wait(execution_id, WAIT_TIMEOUT)
            wall = time.perf_counter() - started
            check_ended(execution, flow)
            if len(execution.task_run_list) != LATENCY_FLOWS[flow]:
                raise SystemExit(f"'{flow}' ran {len(execution.task_run_list)} task runs, "
                                 f"expected {LATENCY_FLOWS[flow]}")
            if i >= warmup:
                run.history.append(history_seconds(execution))
                run.wall.append(wall)
        return run


@dataclass
class ThroughputRun:
    executions: int
    seconds: float
    history: list[float]
    wall: list[float]

    @property
    def rate(self) -> float:
        return self.executions / self.seconds


async def throughput(executions: int, warmup: int, in_flight: int, home: Path) -> ThroughputRun:
    async with EmbeddedEngine(home, worker_concurrency=16) as engine:
        engine.deploy(flow_source(THROUGHPUT_FLOW))
        clock = EndClock()
        engine.subscribe(clock)
        for _ in range(warmup):
            check_ended(await engine.wait(await engine.create_execution("benchmarks", THROUGHPUT_FLOW),
                                          WAIT_TIMEOUT), THROUGHPUT_FLOW)
        created: dict[str, float] = {}
        gate = asyncio.Semaphore(in_flight) if in_flight > 0 else None

        async def one() -> Execution:
            if gate is None:
                return await _create_and_wait(engine, created)
            async with gate:
                return await _create_and_wait(engine, created)

        first = time.perf_counter()
        if gate is None:
            # Every creation before the first wait: the burst is queued before the executor folds anything.
            ids = []
            for _ in range(executions):
                started = time.perf_counter()
                execution_id = await engine.create_execution("benchmarks", THROUGHPUT_FLOW)
                created[execution_id] = started
                ids.append(execution_id)
            ended = await asyncio.gather(*(engine.wait(i, WAIT_TIMEOUT) for i in ids))
        else:
            ended = await asyncio.gather(*(one() for _ in range(executions)))
        for execution in ended:
            check_ended(execution, THROUGHPUT_FLOW)
            if (execution.outputs or {}).get("greeting") != "Hello World":
                raise SystemExit(f"'{THROUGHPUT_FLOW}' returned outputs {execution.outputs}, "
                                 "expected greeting 'Hello World'")
        last = max(clock.ended[e.id] for e in ended)
        return ThroughputRun(executions=executions, seconds=last - first,
                             history=[history_seconds(e) for e in ended],
                             wall=[clock.ended[e.id] - created[e.id] for e in ended])


async def _create_and_wait(engine: EmbeddedEngine, created: dict[str, float]) -> Execution:
    started = time.perf_counter()
    execution_id = await engine.create_execution("benchmarks", THROUGHPUT_FLOW)
    created[execution_id] = started
    return await engine.wait(execution_id, WAIT_TIMEOUT)


def in_fresh_home(make: Callable[[Path], Coroutine[Any, Any, T]]) -> T:
    with tempfile.TemporaryDirectory(prefix="kestra-stream-bench-") as home:
        return asyncio.run(make(Path(home)))


def ms(seconds: float) -> float:
    return seconds * 1000


def latency_rows(runs: Sequence[LatencyRun], executions: int) -> list[Row]:
    history = [median(r.history) for r in runs]
    wall = [median(r.wall) for r in runs]
    all_history = [v for r in runs for v in r.history]
    all_wall = [v for r in runs for v in r.wall]
    flow = runs[0].flow
    target = ""
    if flow == LATENCY_FLOW:
        met = "met" if percentile(all_wall, 95) < TARGET_SECONDS else "NOT met"
        target = f"; target < {ms(TARGET_SECONDS):.0f} ms at p95: {met}"
    detail = f"{executions} executions x {len(runs)} engines; p95 {{p95:.1f}} ms, max {{max:.1f}} ms"
    return [
        Row(f"{flow}: history CREATED->end", ms(median(history)), "ms",
            detail.format(p95=ms(percentile(all_history, 95)), max=ms(max(all_history))),
            {"samples_ms": [ms(v) for v in all_history]}),
        Row(f"{flow}: wall create->wait", ms(median(wall)), "ms",
            detail.format(p95=ms(percentile(all_wall, 95)), max=ms(max(all_wall))) + target,
            {"samples_ms": [ms(v) for v in all_wall]}),
    ]


def throughput_rows(runs: Sequence[ThroughputRun], in_flight: int) -> list[Row]:
    mode = f"at most {in_flight} in flight" if in_flight > 0 else "burst"
    rates = [r.rate for r in runs]
    rows = [Row(f"{THROUGHPUT_FLOW}: executions/s", median(rates), "ex/s",
                f"{runs[0].executions} executions ({mode}) x {len(runs)} engines; "
                f"min {min(rates):.0f}, max {max(rates):.0f}", {"rates": rates})]
    samples = {"history": [r.history for r in runs], "wall": [r.wall for r in runs]}
    for label, per_engine in samples.items():
        for pct in (50, 95, 99):
            values = [ms(percentile(engine, pct)) for engine in per_engine]
            rows.append(Row(f"{THROUGHPUT_FLOW}: {label} p{pct} creation->end", median(values), "ms",
                            "median over engines of each engine's percentile", {"per_engine_ms": values}))
    return rows


def profiled(make: Callable[[], T], top: int) -> tuple[T, str]:
    profiler = cProfile.Profile()
    profiler.enable()
    result = make()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return result, out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["latency", "throughput"], help="run one of the two measurements")
    parser.add_argument("--repetitions", type=int, default=3, help="fresh engines per measurement (median)")
    parser.add_argument("--latency-flow", choices=sorted(LATENCY_FLOWS), default=LATENCY_FLOW,
                        help="flow fixture of the latency measurement")
    parser.add_argument("--latency-executions", type=int, default=20,
                        help="measured executions of the 40-task flow per engine")
    parser.add_argument("--executions", type=int, default=500, help="benchmark01 executions per engine")
    parser.add_argument("--in-flight", type=int, default=0,
                        help="at most this many benchmark01 executions running at once (0: all created at once)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured executions per engine first")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the first engine of each measurement to stderr")
    parser.add_argument("--top", type=int, default=25, help="entries of the profile to print")
    args = parser.parse_args(argv)
    if args.repetitions < 1 or args.executions < 1 or args.latency_executions < 1:
        parser.error("--repetitions, --executions and --latency-executions must be at least 1")
    configure_logging(level="WARNING")
    rows: list[Row] = []
    if args.only in (None, "latency"):
        latency_runs: list[LatencyRun] = []
        for i in range(args.repetitions):
            def measure() -> LatencyRun:
                return in_fresh_home(
                    lambda home: latency(args.latency_executions, args.warmup, home, args.latency_flow))
            if args.profile and i == 0:
                run, text = profiled(measure, args.top)
                sys.stderr.write(f"--- profile: latency, {args.latency_flow} ---\n{text}")
            else:
                run = measure()
            latency_runs.append(run)
        rows.extend(latency_rows(latency_runs, args.latency_executions))
    if args.only in (None, "throughput"):
        throughput_runs: list[ThroughputRun] = []
        for i in range(args.repetitions):
            def measure_throughput() -> ThroughputRun:
                return in_fresh_home(lambda home: throughput(args.executions, args.warmup, args.in_flight, home))
            if args.profile and i == 0:
                result, text = profiled(measure_throughput, args.top)
                sys.stderr.write(f"--- profile: throughput, {THROUGHPUT_FLOW} ---\n{text}")
            else:
                result = measure_throughput()
            throughput_runs.append(result)
        rows.extend(throughput_rows(throughput_runs, args.in_flight))
    settings: dict[str, Any] = {"repetitions": args.repetitions, "warmup": args.warmup,
                                "latency_flow": args.latency_flow, "latency_executions": args.latency_executions,
                                "executions": args.executions,
                                "in_flight": args.in_flight or "all", "worker_concurrency": 16}
    report("embedded engine end to end", rows, settings, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
