"""The broker stopped for 30 s in the middle of 200 executions, with the executor and the worker as
processes of their own (`kestra-stream executor`, `kestra-stream worker`): every execution ends
SUCCESS with each task run applied once, and the components log the outage a bounded number of
times, not once per retry.

The broker is a private one (``PrivateKafka``: its own home and ports, the shared services' Kafka
distribution), since stopping the shared one would break everyone's tests. The shared broker
answering is what the test requires, as every Kafka test does: its distribution is the one run.
The worker runs 2 jobs at a time, so it is full when the broker stops: it pins that a worker whose
partitions were paused when the group lost them consumes again once they are assigned back (it
stayed idle for good before, the executions RUNNING). benchmarks/bench_outage.py measures the same
scenario with its stack in one process. Lines counted: those each component writes at WARNING or
above (or unstructured, straight to stderr) from the stop to the last end.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kestra_stream.models.state import StateType
from kestra_stream.services import PrivateKafka, ServicesSettings
from tests._ports import free_port_pair
from tests._waiting import until
from tests.e2e.kafka_crash_driver import Component, Processes, client, fresh_settings, wait_all, where

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]

EXECUTIONS = 200
DOWN_SECONDS = 30.0
# What OutageLog and RepeatedLines promise for each thing that fails (an OutageLog, a library's line
# template): its first failure, one summary per 30 s period while it lasts, its recovery.
SUMMARY_PERIOD = 30.0
# Things that may fail at once in one component: the executor's delivery, timers and lag check, the
# worker's result and log delivery, the clients' connection, metadata, coordinator and fetch lines.
FAILING_THINGS = 12
NAMESPACE = "e2e.outage"
FLOW = f"""
id: outage
namespace: {NAMESPACE}
tasks:
  - {{id: a, type: io.kestra.plugin.core.log.Log, message: a}}
  - {{id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT5S}}
  - {{id: b, type: io.kestra.plugin.core.log.Log, message: b}}
"""
TASKS = ["a", "nap", "b"]
# A worker this small is full when the broker stops (results it cannot deliver hold its slots), so its
# partitions are paused when the group loses them: librdkafka keeps that pause across re-assignment.
WORKER_CONCURRENCY = 2


@pytest.fixture
def private_kafka(kafka_bootstrap: str, tmp_path: Path) -> Iterator[PrivateKafka]:
    """A broker of this test's own, running the shared services' Kafka distribution."""
    broker = PrivateKafka(tmp_path / "broker", free_port_pair(), ServicesSettings.load().home)
    try:
        broker.up()
        yield broker
    finally:
        broker.down(grace=5.0)


def lines(log: Path) -> list[str]:
    return log.read_text(errors="replace").splitlines()


def is_outage_line(line: str) -> bool:
    """A line at WARNING or above, or one that is not structured (a library writing to stderr)."""
    try:
        record = json.loads(line)
    except ValueError:
        return bool(line.strip())
    return not isinstance(record, dict) or record.get("level") not in ("debug", "info")


def what(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return f"(not JSON) {line[:80]}"
    return f"{record.get('logger', '')}: {str(record.get('event', ''))[:80]}"


async def test_a_broker_stopped_for_30s_in_the_middle_of_200_executions_ends_them_all_and_is_logged_boundedly(
        private_kafka: PrivateKafka, tmp_path: Path, processes: Processes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_STREAM_KAFKA_WORKER_CONCURRENCY", str(WORKER_CONCURRENCY))  # the processes' settings
    settings = fresh_settings(private_kafka.bootstrap)
    async with client(settings, tmp_path / "client", [FLOW]) as stack:
        executor = processes.start(Component("executor", settings, processes.logs / "executor.log"))
        worker = processes.start(Component("worker", settings, processes.logs / "worker.log", home=tmp_path / "w"))
        await asyncio.to_thread(worker.wait_for, "partitions_assigned", within=120)
        await asyncio.to_thread(executor.wait_for, "kafka_executor_started", within=120)

        ids = [await stack.create_execution(NAMESPACE, "outage") for _ in range(EXECUTIONS)]

        def napping() -> bool:
            return any((s := stack.state(i)) is not None and s.execution.taskruns_of("nap") for i in ids)

        await until(napping, "an execution reaches its Sleep", within=180, describe=processes.describe)
        components = (executor, worker)
        before = {c.kind: len(lines(c.log_file)) for c in components}
        stopped = time.monotonic()
        assert await asyncio.to_thread(private_kafka.down) in ("stopped", "killed")
        unfinished_at_stop = sum(1 for i in ids if (s := stack.state(i)) is None or not s.finished)
        await asyncio.sleep(DOWN_SECONDS)  # the outage itself, not a wait for something
        await asyncio.to_thread(private_kafka.up)
        ended = await wait_all(stack, ids, within=600, describe=processes.describe)
        away = time.monotonic() - stopped

    assert unfinished_at_stop > 0, "every execution ended before the broker stopped: no outage in their middle"
    assert Counter(e.state.current for e in ended.values()) == {StateType.SUCCESS: EXECUTIONS}, \
        "\n".join(where(stack, i) for i in ids if ended[i].state.current != StateType.SUCCESS)
    for execution in ended.values():
        # Each task run once, applied once: one attempt, SUCCESS, whatever was replayed to the executor.
        assert [tr.task_id for tr in execution.task_run_list] == TASKS, where(stack, execution.id)
        assert all([a.state.current for a in tr.attempts] == [StateType.SUCCESS]
                   for tr in execution.task_run_list), where(stack, execution.id)

    periods = math.ceil(away / SUMMARY_PERIOD)
    bound = FAILING_THINGS * (2 + periods)
    for component in components:
        during = lines(component.log_file)[before[component.kind]:]
        outage = [line for line in during if is_outage_line(line)]
        counted = Counter(what(line) for line in outage).most_common(15)
        print(f"{component.kind}: {len(during)} lines after the stop ({away:.0f} s away and recovering), "
              f"{len(outage)} at WARNING or above: {counted}")
        assert len(outage) <= bound, (f"{component.kind} logged the outage {len(outage)} times in {away:.0f} s "
                                      f"(at most {bound}: first failure, a summary per {SUMMARY_PERIOD:g} s, recovery, "
                                      f"for {FAILING_THINGS} things at most):\n{counted}")
