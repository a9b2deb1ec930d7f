"""The Kafka backend with its components in processes of their own: shared load and crashes.

- Two worker processes of one group share the jobs; SIGTERM one and the other finishes everything.
- SIGKILL the executor and the worker while 200 executions of a 5-task flow run, start them again:
  every execution ends SUCCESS, each task run with exactly one attempt, SUCCESS, and its outputs
  right. A script may run twice (jobs are at least once) but its result is applied once.

Processes are started through the CLI (`kestra-stream executor`, `kestra-stream worker`) by
``kafka_crash_driver``; executions are created and followed through ``KafkaExecutions``.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.state import StateType
from tests._waiting import until
from tests.e2e.kafka_crash_driver import (
    CRASH_FLOW,
    CRASH_TASKS,
    NAMESPACE,
    WHOAMI_FLOW,
    Component,
    Processes,
    client,
    fresh_settings,
    wait_all,
)

pytestmark = pytest.mark.kafka

CRASH_COUNT = 200


def worker_of(state: ExecutionState) -> int:
    outputs = state.execution.taskruns_of("who")[0].outputs or {}
    return int(outputs["vars"]["worker"])


async def test_two_worker_processes_share_the_jobs_and_one_finishes_everything_when_the_other_stops(
        kafka_bootstrap: str, tmp_path: Path, processes: Processes) -> None:
    settings = fresh_settings(kafka_bootstrap)
    async with client(settings, tmp_path / "client", [WHOAMI_FLOW]) as stack:
        executor = processes.start(Component("executor", settings, processes.logs / "executor.log"))
        first = processes.start(Component("worker", settings, processes.logs / "worker-1.log", home=tmp_path / "w1"))
        first.wait_for("partitions_assigned")
        second = processes.start(Component("worker", settings, processes.logs / "worker-2.log",
                                           home=tmp_path / "w2"))
        second.wait_for("partitions_assigned")
        executor.wait_for("kafka_executor_started")

        shared = [await stack.create_execution(NAMESPACE, "whoami") for _ in range(40)]
        ended = await wait_all(stack, shared, within=60, describe=processes.describe)
        assert {e.state.current for e in ended.values()} == {StateType.SUCCESS}
        ran_on = Counter(worker_of(s) for s in (stack.state(i) for i in shared) if s is not None)
        assert set(ran_on) == {first.pid, second.pid}, ran_on

        # The first worker stops gracefully while jobs are running and waiting on its partitions.
        during = [await stack.create_execution(NAMESPACE, "whoami") for _ in range(40)]
        await until(lambda: sum(1 for i in during if (s := stack.state(i)) is not None and s.finished) >= 5,
                    "a few executions ended", within=30, describe=processes.describe)
        assert first.sigterm() == 0, first.tail()
        after = [await stack.create_execution(NAMESPACE, "whoami") for _ in range(20)]

        ended = await wait_all(stack, during + after, within=60, describe=processes.describe)
        assert Counter(e.state.current for e in ended.values()) == {StateType.SUCCESS: len(during) + len(after)}
        late = {worker_of(s) for s in (stack.state(i) for i in after) if s is not None}
        assert late == {second.pid}
        assert first.saw("kafka_worker_stopped") == 1


async def test_sigkill_of_executor_and_worker_mid_run_loses_nothing_and_applies_each_result_once(
        kafka_bootstrap: str, tmp_path: Path, processes: Processes) -> None:
    settings = fresh_settings(kafka_bootstrap)
    sidefile = tmp_path / "side-effects.txt"
    async with client(settings, tmp_path / "client", [CRASH_FLOW]) as stack:
        executor = processes.start(Component("executor", settings, processes.logs / "executor-1.log"))
        worker = processes.start(Component("worker", settings, processes.logs / "worker-1.log", home=tmp_path / "w"))

        async def create(numbers: range) -> list[str]:
            return [await stack.create_execution(NAMESPACE, "crash5", {"n": n, "sidefile": str(sidefile)})
                    for n in numbers]

        # Executions move nearly in step (all hellos, then all naps ...): a first wave ends before the
        # second starts, so the kill finds executions ended and others with their scripts running.
        first_wave = CRASH_COUNT // 5
        created = await create(range(first_wave))
        await wait_all(stack, created, within=60, describe=processes.describe)
        created += await create(range(first_wave, CRASH_COUNT))

        def finished() -> int:
            return sum(1 for i in created if (s := stack.state(i)) is not None and s.finished)

        def scripts_in_flight() -> int:
            """Scripts started (their side effect written) whose result the executor has not applied yet."""
            started = set(sidefile.read_text().split()) if sidefile.exists() else set()
            applied = {tr.id for i in created if (s := stack.state(i)) is not None
                       for tr in s.execution.taskruns_of("work") if tr.current.is_terminated}
            return len(started - applied)

        await until(lambda: scripts_in_flight() >= 3, "scripts of the second wave running", within=60,
                    describe=processes.describe)
        worker.sigkill()
        executor.sigkill()
        at_kill = finished()
        assert at_kill < CRASH_COUNT, "the kill came too late to test anything"
        assert executor.process.returncode == worker.process.returncode == -signal.SIGKILL

        processes.start(Component("executor", settings, processes.logs / "executor-2.log"))
        processes.start(Component("worker", settings, processes.logs / "worker-2.log", home=tmp_path / "w"))
        ended = await wait_all(stack, created, within=90, describe=processes.describe)

    assert Counter(e.state.current for e in ended.values()) == {StateType.SUCCESS: CRASH_COUNT}
    for execution in ended.values():
        assert [tr.task_id for tr in execution.task_run_list] == CRASH_TASKS, execution.id
        for tr in execution.task_run_list:
            # One attempt, SUCCESS: a result delivered again after the crash was not applied again.
            assert [a.state.current for a in tr.attempts] == [StateType.SUCCESS], (execution.id, tr.task_id)
            assert tr.current == StateType.SUCCESS
        n = int((execution.inputs or {})["n"])
        assert execution.taskruns_of("work")[0].outputs == {"vars": {"square": n * n}, "exitCode": 0,
                                                             "outputFiles": {}}
        assert execution.taskruns_of("answer")[0].outputs == {"value": f"{n}^2={n * n}"}
    # At least once: every script ran, some maybe twice (a job run again after the crash).
    runs = Counter(sidefile.read_text().split())
    assert set(runs) == {e.taskruns_of("work")[0].id for e in ended.values()}

