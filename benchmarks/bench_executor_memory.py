"""Executor memory against history (issue 13): RSS depends on executions in flight, not on how many ended.

benchmark01 executions on the Kafka backend, the executor and the worker as separate processes
(``python -m kestra_stream executor`` / ``worker``), this process only creating executions and
reading their ends. A window of ``--in-flight`` executions is kept running; the executor's RSS
(``/proc/<pid>/status`` VmRSS) is sampled at every ``--checkpoint`` ended executions. Then the
executor is stopped, started again, and one new execution is timed from the new process's start
to its end (what a restart costs once the history is long).

Verdicts (issue 13's targets): RSS after ``--executions`` within 10 % of the RSS sampled at
``--base`` ended executions (10,000 by default); the restarted executor ends its first new
execution within 10 s.
Ended executions leave the executor's tables ``--grace`` seconds after their end
(``ended_grace_seconds``), so the window held is about in-flight + rate x grace.

    .venv/bin/python benchmarks/bench_executor_memory.py --executions 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path

from _harness import Row, flow_source, report
from bench_kafka import NAMESPACE, RATE_FLOW, check_success, fresh_settings, running_backend, warm_up

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.log import configure_logging

RSS_TOLERANCE = 0.10
RESTART_TARGET_SECONDS = 10.0
GRACE_ENV = "KESTRA_STREAM_KAFKA_ENDED_GRACE_SECONDS"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"process {pid} has no VmRSS (has it exited?)")


class Ends:
    """Executions the client saw end (client thread), and a wake-up for the creating loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        self.failed: list[str] = []
        self._seen: set[str] = set()
        self._loop = loop
        self.changed = asyncio.Event()

    def __call__(self, state: ExecutionState) -> None:
        execution = state.execution
        if not state.finished or execution.id in self._seen:
            return
        self._seen.add(execution.id)
        self.count += 1
        if execution.state.current.value != "SUCCESS":
            self.failed.append(execution.id)
        self._loop.call_soon_threadsafe(self.changed.set)


async def run(args: argparse.Namespace) -> tuple[list[Row], dict[str, object]]:
    os.environ[GRACE_ENV] = str(args.grace)  # read by the component processes' settings
    settings = fresh_settings(args.partitions, args.bootstrap_servers, args.worker_concurrency)
    settings = settings.model_copy(update={"ended_grace_seconds": args.grace})
    rows: list[Row] = []
    samples: list[tuple[int, float, float]] = []  # (ended, executor RSS MiB, seconds since start)
    with tempfile.TemporaryDirectory(prefix="kestra-stream-bench-memory-") as home:
        async with running_backend("processes", settings, Path(home)) as backend:
            assert backend.components is not None
            stack = backend.stack
            stack.deploy(flow_source(RATE_FLOW))
            await warm_up(backend, RATE_FLOW, 2, 3)
            ends = Ends(asyncio.get_running_loop())
            stack.subscribe(ends)
            began = time.perf_counter()
            created = 0
            next_checkpoint = args.checkpoint
            while ends.count < args.executions:
                backend.components.check_alive()
                while created < args.executions and created - ends.count < args.in_flight:
                    await stack.create_execution(NAMESPACE, RATE_FLOW)
                    created += 1
                ends.changed.clear()
                try:
                    await asyncio.wait_for(ends.changed.wait(), 120)
                except TimeoutError:
                    raise SystemExit(f"no execution ended for 120 s ({ends.count} of {created} ended)") from None
                if ends.count >= next_checkpoint:
                    executor_pid = backend.components.children["executor"].pid
                    samples.append((ends.count, rss_mib(executor_pid), time.perf_counter() - began))
                    print(f"  {ends.count:>7} ended  executor RSS {samples[-1][1]:7.1f} MiB  "
                          f"{samples[-1][2]:7.0f} s  load {os.getloadavg()[0]:.1f}", flush=True)
                    next_checkpoint += args.checkpoint
            if ends.failed:
                raise SystemExit(f"{len(ends.failed)} executions did not end SUCCESS, e.g. {ends.failed[0]}")
            seconds = time.perf_counter() - began

            # The restart: the same executor app id, its tables recovered from their changelogs.
            executor = backend.components.children["executor"]
            executor.send_signal(signal.SIGTERM)
            executor.wait(60)
            restarted_at = time.perf_counter()
            backend.components.start(["executor"])
            execution_id = await stack.create_execution(NAMESPACE, RATE_FLOW)
            first = await stack.wait(execution_id, 300)
            restart_seconds = time.perf_counter() - restarted_at
            check_success(first, RATE_FLOW, 2)
            restarted_rss = rss_mib(backend.components.children["executor"].pid)

    base = next((sample for sample in samples if sample[0] >= args.base), samples[0])
    last = samples[-1]
    growth = (last[1] - base[1]) / base[1]
    rows += [
        Row(f"executor RSS after {base[0]:,} ended", base[1], "MiB", "the base of the comparison"),
        Row(f"executor RSS after {last[0]:,} ended", last[1], "MiB",
            f"{growth:+.1%} against the base (target within {RSS_TOLERANCE:.0%}): "
            + ("met" if abs(growth) <= RSS_TOLERANCE else "NOT met")),
        Row("executions per minute", last[0] / seconds * 60, "/min", f"{last[0]:,} in {seconds:.0f} s"),
        Row("restarted executor: first new execution ended", restart_seconds, "s",
            f"from the new process's start (target {RESTART_TARGET_SECONDS:.0f} s): "
            + ("met" if restart_seconds <= RESTART_TARGET_SECONDS else "NOT met")),
        Row("restarted executor RSS", restarted_rss, "MiB", "after its first execution"),
    ]
    rows += [Row(f"  checkpoint {ended:,}", rss, "MiB", f"at {at:.0f} s") for ended, rss, at in samples]
    return rows, {"executions": args.executions, "in_flight": args.in_flight, "grace_seconds": args.grace,
                  "partitions": args.partitions, "worker_concurrency": args.worker_concurrency}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=100_000, help="benchmark01 executions to run")
    parser.add_argument("--checkpoint", type=int, default=2_500, help="ended executions between RSS samples")
    parser.add_argument("--base", type=int, default=10_000,
                        help="the RSS after this many ended executions is what the last sample is compared with")
    parser.add_argument("--in-flight", type=int, default=100, help="executions kept running at once")
    parser.add_argument("--grace", type=float, default=30.0,
                        help="ended_grace_seconds: how long an ended execution stays in the executor's tables")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--worker-concurrency", type=int, default=16)
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    if args.checkpoint > args.executions:
        parser.error("--checkpoint must not exceed --executions")
    configure_logging(level="WARNING")
    rows, settings = asyncio.run(run(args))
    report("executor memory against history (Kafka, separate processes)", rows, settings, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
