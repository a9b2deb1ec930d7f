"""The benchmark drivers measure what they claim: executions really end, every command is answered.

Run with ``.venv/bin/pytest benchmarks -q`` (the project's default test paths hold ``tests/`` only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _harness import Row, flow_source, percentile, report
from bench_embedded import latency, throughput
from bench_fold import drive
from bench_fold import main as fold_main

from kestra_stream.flows import load_flow
from kestra_stream.models.state import StateType


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_no_values_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 0)


def test_fold_driver_runs_the_40_task_flow_to_success_with_one_event_per_task() -> None:
    run = drive(load_flow(flow_source("sequential_40_logs")), "ex")
    assert run.final_state == StateType.SUCCESS
    assert run.events == 41
    assert run.task_runs == 40
    assert run.commands == {"run_task": 40, "ended": 1}
    assert run.fold_seconds > 0


@pytest.mark.parametrize("name", ["foreach_200_logs", "foreach_200_logs_unlimited"])
def test_fold_driver_runs_each_of_the_200_values(name: str) -> None:
    run = drive(load_flow(flow_source(name)), "ex")
    assert run.final_state == StateType.SUCCESS
    assert run.events == 201
    assert run.task_runs == 201
    assert run.commands["run_task"] == 200


def test_fold_driver_fires_due_timers_on_its_fake_clock() -> None:
    flow = load_flow("id: nap\nnamespace: benchmarks\ntasks:\n"
                     "  - id: nap\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT1H\n")
    run = drive(flow, "ex")
    assert run.final_state == StateType.SUCCESS
    assert run.commands["schedule_timer"] == 1
    assert run.events == 2  # created, then the timer an hour later on the fake clock


def test_fold_driver_does_not_fire_cancelled_timers() -> None:
    flow = load_flow("id: quick\nnamespace: benchmarks\ntasks:\n"
                     "  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n    timeout: PT1M\n")
    run = drive(flow, "ex")
    assert run.final_state == StateType.SUCCESS
    assert run.commands["schedule_timer"] == 1
    assert run.commands["cancel_timer"] == 1
    assert run.events == 2  # created, the result; the cancelled timeout never fires


def test_fold_driver_answers_a_concurrency_slot_request() -> None:
    flow = load_flow("id: one\nnamespace: benchmarks\nconcurrency:\n  limit: 1\ntasks:\n"
                     "  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    run = drive(flow, "ex")
    assert run.final_state == StateType.SUCCESS
    assert run.commands["acquire_slot"] == 1
    assert run.events == 3  # created, dequeued, the result


def test_fold_benchmark_prints_json_with_machine_and_rates(capsys: pytest.CaptureFixture[str]) -> None:
    assert fold_main(["--flow", "sequential_40_logs", "--repetitions", "1", "--warmup", "0",
                      "--executions", "1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["machine"]["nproc"] >= 1
    first = document["results"][0]
    assert first["unit"] == "ev/s" and first["value"] > 0
    assert first["extra"]["events_per_execution"] == 41


def test_report_prints_one_aligned_line_per_row(capsys: pytest.CaptureFixture[str]) -> None:
    report("title", [Row("a", 1234.5, "ev/s"), Row("longer name", 0.5, "ms", "detail")], {"k": 1},
           as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "settings: k=1"
    assert lines[2].split() == ["a", "1,234", "ev/s"]
    assert lines[3].split() == ["longer", "name", "0.5", "ms", "detail"]


async def test_embedded_latency_runs_the_40_task_flow_end_to_end(tmp_path: Path) -> None:
    run = await latency(executions=2, warmup=1, home=tmp_path)
    assert len(run.history) == 2 and len(run.wall) == 2
    assert all(0 < seconds < 30 for seconds in run.history + run.wall)


@pytest.mark.parametrize("in_flight", [0, 3])
async def test_embedded_throughput_ends_every_execution_with_its_greeting(tmp_path: Path, in_flight: int) -> None:
    run = await throughput(executions=10, warmup=1, in_flight=in_flight, home=tmp_path)
    assert run.executions == 10
    assert len(run.history) == 10 and len(run.wall) == 10
    assert run.rate > 0


def _scripts_measurements(added: float, parity: float) -> Any:
    from bench_scripts import Measurements, ScriptRun

    compute = [0.4] * 10
    wall = sum(compute) * (1 + added)
    m = Measurements(topology="inprocess", load={"fibo33_before": 0.5, "fibo33_after": 0.5})
    m.fibo33 = [ScriptRun(wall=wall, history=wall, compute=compute, task_run=[0.41] * 10) for _ in range(3)]
    m.loops = [(4.0, 4.05)] * 3
    m.parity = [(0.4 * parity, 0.4)] * 5
    return m


def test_fibo33_is_judged_on_what_the_flow_adds_to_its_own_computations_with_parity_beside_it() -> None:
    from bench_scripts import fibo33_rows

    rows = {row.name.split(": ", 1)[1]: row for row in fibo33_rows(_scripts_measurements(0.02, 1.01))}
    assert round(rows["flow wall over its own fibo() times"].value, 6) == 2.0
    assert rows["flow wall over its own fibo() times"].detail.endswith("target < 3 %: met")
    assert round(rows["compute parity, flow script / plain loop"].value, 6) == 1.01
    missed = {row.name.split(": ", 1)[1]: row for row in fibo33_rows(_scripts_measurements(0.05, 1.0))}
    assert missed["flow wall over its own fibo() times"].detail.endswith("target < 3 %: NOT met")
