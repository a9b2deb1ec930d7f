"""The executor core alone: events per second through ``fold``, with no asyncio, no SQLite, no worker.

One execution is driven purely: ``ExecutionCreated``, then every ``RunTask`` is answered by a
``TaskResult`` SUCCESS and every ``ScheduleTimer`` by a ``TimerFired`` at its fire time, on a
fake clock that advances one millisecond per answered job. Only the ``fold`` calls are timed
for the events/s figure; building the answering events is the driver's cost, not the core's.
The JSON snapshot of the state after each event (what the embedded store writes per event) is
timed apart, because it is the backend's per-event cost that grows with the execution.

    .venv/bin/python benchmarks/bench_fold.py [--flow NAME ...] [--repetitions N] [--json] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import io
import pstats
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import Row, flow_source, median, report

from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.events import Dequeued, Event, ExecutionCreated, TaskResult, TimerFired
from kestra_stream.executor.fold import ExecutionState, fold
from kestra_stream.flows import load_flow
from kestra_stream.log import configure_logging
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType

# Executions per repetition, chosen so one repetition takes a few tenths of a second.
DEFAULT_SCENARIOS: dict[str, int] = {
    "sequential_40_logs": 20,
    "foreach_200_logs": 3,
    "foreach_200_logs_unlimited": 3,
}
START = datetime(2024, 1, 1, tzinfo=UTC)
TICK = timedelta(milliseconds=1)


@dataclass
class FoldRun:
    """What driving one execution to its end cost, and what it produced."""

    events: int = 0
    fold_seconds: float = 0.0
    snapshot_seconds: float = 0.0
    commands: Counter[str] = field(default_factory=Counter)
    final_state: StateType | None = None
    task_runs: int = 0


def drive(flow: Flow, execution_id: str, *, snapshot: bool = True) -> FoldRun:
    """Fold one execution of ``flow`` from creation to its end, answering every command as a backend would."""
    run = FoldRun()
    clock = START
    ready: deque[Event] = deque([ExecutionCreated(
        event_id=f"{execution_id}-created", execution_id=execution_id, at=clock, namespace=flow.namespace,
        flow_id=flow.id, flow_revision=flow.revision or 1)])
    timers: list[tuple[datetime, str, ScheduleTimer]] = []
    cancelled: set[str] = set()
    state: ExecutionState | None = None
    while True:
        if ready:
            event = ready.popleft()
        elif timers:
            fire_at, timer_id, timer = heapq.heappop(timers)
            if timer_id in cancelled:
                continue
            clock = max(clock, fire_at)
            event = TimerFired(event_id=f"{timer_id}-fired", execution_id=execution_id, at=clock,
                               timer_id=timer_id, purpose=timer.purpose, taskrun_id=timer.taskrun_id,
                               attempt=timer.attempt)
        else:
            break
        started = time.perf_counter()
        state, commands = fold(state, event, flow)
        run.fold_seconds += time.perf_counter() - started
        run.events += 1
        if snapshot and state is not None:
            started = time.perf_counter()
            state.model_dump_json()
            run.snapshot_seconds += time.perf_counter() - started
        for command in commands:
            run.commands[command.kind] += 1
            if isinstance(command, RunTask):
                clock += TICK
                ready.append(TaskResult(event_id=f"{command.job_id}-result", execution_id=execution_id, at=clock,
                                        taskrun_id=command.taskrun_id, attempt=command.attempt,
                                        state=StateType.SUCCESS))
            elif isinstance(command, ScheduleTimer):
                cancelled.discard(command.timer_id)
                heapq.heappush(timers, (command.fire_at, command.timer_id, command))
            elif isinstance(command, CancelTimer):
                cancelled.add(command.timer_id)
            elif isinstance(command, AcquireSlot):
                ready.append(Dequeued(event_id=f"{execution_id}-dequeued", execution_id=execution_id, at=clock))
            elif isinstance(command, StartSubflow):
                raise SystemExit(f"flow '{flow.id}' starts a subflow, which the pure fold driver cannot answer; "
                                 "benchmark subflows on the embedded engine (bench_embedded.py)")
    if state is None or not state.finished:
        current = state.execution.state.current if state else None
        raise SystemExit(f"flow '{flow.id}' did not finish under the fold driver (state {current}); "
                         "the driver answers only RunTask, ScheduleTimer and AcquireSlot")
    run.final_state = state.execution.state.current
    run.task_runs = len(state.execution.task_run_list)
    return run


@dataclass
class Repetition:
    events: int
    executions: int
    fold_seconds: float
    snapshot_seconds: float


def repeat(flow: Flow, executions: int, index: int) -> Repetition:
    runs = [drive(flow, f"rep{index}-ex{i}") for i in range(executions)]
    return Repetition(events=sum(r.events for r in runs), executions=executions,
                      fold_seconds=sum(r.fold_seconds for r in runs),
                      snapshot_seconds=sum(r.snapshot_seconds for r in runs))


def bench(name: str, executions: int, repetitions: int, warmup: int) -> list[Row]:
    flow = load_flow(flow_source(name))
    probe = drive(flow, "probe")
    if probe.final_state != StateType.SUCCESS:
        raise SystemExit(f"flow '{name}' ended {probe.final_state} under the fold driver; expected SUCCESS")
    for i in range(warmup):
        drive(flow, f"warmup-{i}")
    reps = [repeat(flow, executions, i) for i in range(repetitions)]
    rates = [r.events / r.fold_seconds for r in reps]
    per_execution_ms = [r.fold_seconds / r.executions * 1000 for r in reps]
    snapshot_us = [r.snapshot_seconds / r.events * 1e6 for r in reps]
    detail = (f"{probe.events} events/execution, {probe.task_runs} task runs, "
              f"{executions} executions x {repetitions} reps")
    spread = f"min {min(rates):,.0f}, max {max(rates):,.0f}"
    return [
        Row(f"{name}: fold events/s", median(rates), "ev/s", f"{detail}; {spread}",
            {"events_per_execution": probe.events, "commands": dict(probe.commands), "rates": rates}),
        Row(f"{name}: fold per event", 1e6 / median(rates), "us", "median over repetitions"),
        Row(f"{name}: fold per execution", median(per_execution_ms), "ms", "creation to end, fold calls only"),
        Row(f"{name}: state JSON per event", median(snapshot_us), "us",
            "ExecutionState.model_dump_json(), what the embedded store writes per event"),
    ]


def profile(name: str, top: int) -> str:
    """cProfile of one execution, the ``top`` entries by own time."""
    flow = load_flow(flow_source(name))
    drive(flow, "profile-warmup", snapshot=False)
    profiler = cProfile.Profile()
    profiler.enable()
    drive(flow, "profile", snapshot=False)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flow", action="append", choices=sorted(DEFAULT_SCENARIOS),
                        help="flow fixture to drive (repeatable; default: all)")
    parser.add_argument("--repetitions", type=int, default=7, help="measured repetitions per flow (median)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured executions before the repetitions")
    parser.add_argument("--executions", type=int, help="executions per repetition (default: per flow)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one execution per flow (top entries by own time) to stderr")
    parser.add_argument("--top", type=int, default=20, help="entries of the profile to print")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    configure_logging(level="WARNING")
    names: list[str] = args.flow or list(DEFAULT_SCENARIOS)
    rows: list[Row] = []
    for name in names:
        rows.extend(bench(name, args.executions or DEFAULT_SCENARIOS[name], args.repetitions, args.warmup))
        if args.profile:
            sys.stderr.write(f"--- profile: {name} ---\n{profile(name, args.top)}")
    settings: dict[str, Any] = {"repetitions": args.repetitions, "warmup": args.warmup,
                                "executions": args.executions or "per flow", "clock": "fake, +1 ms per job"}
    report("fold alone", rows, settings, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
