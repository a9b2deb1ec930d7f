"""bench_server: its schedule, report and CPU account from recorded inputs, and one short real run."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _harness import ProcStat, cpu_used, parse_proc_stat, process_tree
from bench_server import Call, ended_of, measure, parse_args, parse_rate, rate_report, rate_rows, send_offsets

from kestra_stream.models.state import StateType

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def execution(execution_id: str, created_ms: int, *states: tuple[str, int]) -> dict[str, Any]:
    """An execution as the search API returns it, its history at ``created_ms`` then each (state, ms)."""
    history = [("CREATED", created_ms), *states]
    return {"id": execution_id, "state": {
        "current": history[-1][0],
        "histories": [{"state": s, "date": (T0 + timedelta(milliseconds=at)).isoformat()} for s, at in history]}}


def test_the_schedule_spaces_rate_times_duration_calls_evenly() -> None:
    offsets = send_offsets(1000, 20)
    assert len(offsets) == 333  # 1000/min x 20 s, rounded
    assert offsets[0] == 0.0
    assert offsets[1] == pytest.approx(0.06)
    assert offsets[-1] == pytest.approx(332 * 0.06)
    assert send_offsets(1, 1) == [0.0]  # always at least one call


def test_the_schedule_refuses_a_rate_or_duration_that_offers_nothing() -> None:
    with pytest.raises(ValueError, match="both must be above 0"):
        send_offsets(0, 10)
    with pytest.raises(ValueError, match="both must be above 0"):
        send_offsets(100, 0)


def test_a_rate_is_read_with_or_without_per_minute() -> None:
    assert parse_rate("1000/min") == 1000.0
    assert parse_rate("250") == 250.0
    with pytest.raises(argparse.ArgumentTypeError, match="calls per minute"):
        parse_rate("fast")
    with pytest.raises(argparse.ArgumentTypeError, match="above 0"):
        parse_rate("0/min")


def test_ended_of_takes_creation_to_end_from_the_state_history_and_ignores_a_running_one() -> None:
    done = ended_of(execution("a", 100, ("RUNNING", 120), ("SUCCESS", 350)))
    assert done is not None and done.state == "SUCCESS"
    assert done.seconds == pytest.approx(0.25)
    assert ended_of(execution("b", 100, ("RUNNING", 120))) is None


def test_the_report_counts_offered_completed_not_ended_and_refused_from_the_recorded_runs() -> None:
    # Five calls due every 0.1 s (600/min); the fourth refused with 503, the fifth's execution still running.
    calls = [Call(due=i * 0.1, sent=i * 0.1 + 0.001, answered=i * 0.1 + 0.011, status=200, execution_id=f"e{i}")
             for i in range(5)]
    calls[3] = Call(due=0.3, sent=0.301, answered=0.302, status=503, execution_id=None)
    histories = [execution("e0", 0, ("SUCCESS", 100)), execution("e1", 100, ("SUCCESS", 300)),
                 execution("e2", 200, ("FAILED", 1400))]
    ended = {d.id: d for d in (ended_of(h) for h in histories) if d is not None}
    run = rate_report(600, list(reversed(calls)), ended)
    assert run.sent == 5 and run.accepted == 4 and run.refused == {503: 1}
    assert run.offered_per_minute == pytest.approx(600)
    assert run.ended == 3 and run.not_ended == 1
    assert run.final_states == {"SUCCESS": 2, "FAILED": 1}
    assert run.latency == pytest.approx([0.1, 0.2, 1.2])  # in call order
    assert run.completed_per_minute == pytest.approx(3 / 1.4 * 60)  # first creation 0 ms → last end 1400 ms
    assert run.send_lateness == pytest.approx([0.001] * 5)
    rows = {row.name: row.value for row in rate_rows(run)}
    assert rows["creation → end p50"] == 200.0
    assert rows["creation → end p99"] == 1200.0
    assert rows["did not end"] == 1


STAT = "{pid} ({name}) S {ppid} 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} 7 9 20 0 3 0 1 1 1"


def stat(pid: int, ppid: int, name: str, utime: int, stime: int) -> ProcStat:
    return parse_proc_stat(STAT.format(pid=pid, name=name, ppid=ppid, utime=utime, stime=stime), 100)


def test_a_proc_stat_line_gives_its_parent_and_own_cpu_even_with_a_parenthesis_in_its_name() -> None:
    parsed = stat(42, 7, "python (x) y", 250, 50)
    assert (parsed.pid, parsed.ppid, parsed.name, parsed.cpu_seconds) == (42, 7, "python (x) y", 3.0)


def test_cpu_is_accounted_per_process_of_each_tree_between_two_snapshots() -> None:
    before = {s.pid: s for s in (stat(10, 1, "python", 100, 0), stat(11, 10, "python", 50, 0),
                                 stat(20, 1, "java", 1000, 200), stat(30, 1, "other", 0, 0),
                                 stat(12, 10, "sh", 5, 0))}
    # 12 was recycled as another command; 13 started during the run; 30 is nobody's child.
    after = {s.pid: s for s in (stat(10, 1, "python", 300, 100), stat(11, 10, "python", 150, 0),
                                stat(12, 10, "python", 20, 0), stat(13, 11, "python", 40, 0),
                                stat(20, 1, "java", 1500, 300), stat(30, 1, "other", 900, 0))}
    assert process_tree(after, 10) == [10, 11, 12, 13]
    assert process_tree(after, 99) == []
    assert cpu_used(before, after, {"server": 10, "kafka broker": 20, "gone": 99}) == {
        "server": 3.0, "server / python 11": 1.0, "server / python 12": 0.2, "server / python 13": 0.4,
        "kafka broker": 6.0}


def test_a_few_seconds_at_a_low_rate_against_server_local_end_every_execution() -> None:
    args = parse_args(["--server", "local", "--rate", "120/min", "--duration", "3", "--warmup", "1",
                       "--drain", "180"])
    (measured,) = asyncio.run(measure(args))
    assert measured.failures == []
    assert measured.rate is not None
    assert measured.rate.accepted == measured.rate.sent == 6
    assert measured.rate.not_ended == 0
    assert measured.rate.final_states == {StateType.SUCCESS.value: 6}
    assert any(row.name == "benchmark01: CPU server" for row in measured.rows)
