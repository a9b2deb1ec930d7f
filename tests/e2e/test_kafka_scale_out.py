"""Scale-out on one machine: two executor processes and three workers on 8 partitions, one executor
SIGKILLed and started again while executions keep coming.

The executors share the inbox's partitions as one faust group. When one dies, the other takes all
8 partitions (after the group's session timeout) and folds on from the tables' changelogs; when it
comes back, partitions move to it again. Through all of it every execution ends SUCCESS exactly
once: each task run has one attempt (a result folded again after the crash was not applied again),
its state history reaches SUCCESS once, and its outputs are right.

Executions are created while fewer than ``IN_FLIGHT`` are unfinished, so the load follows what the
machine can do rather than a rate that a loaded CI machine might not keep.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from kestra_stream.kafka import KafkaStack
from kestra_stream.models.state import StateType
from tests._waiting import until
from tests.e2e.kafka_crash_driver import NAMESPACE, Component, Processes, client, fresh_settings, wait_all

pytestmark = pytest.mark.kafka

PARTITIONS = 8
IN_FLIGHT = 30
# Executions that end after the restarted executor got its partitions back, so it folds some of them.
AFTER_RETURN = 60
SCALE_TASKS = ["hello", "nap", "values", "answer"]

# Three jobs and a timer held by the executor (the Sleep): each execution goes back and forth between
# the executors' partitions and the workers four times.
SCALE_FLOW = f"""
id: scale4
namespace: {NAMESPACE}
inputs:
  - id: n
    type: INT
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "execution {{{{ inputs.n }}}} starts"
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.1S
  - id: values
    type: io.kestra.plugin.core.output.OutputValues
    values:
      double: "{{{{ inputs.n * 2 }}}}"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ inputs.n }}}}*2={{{{ outputs['values'].values.double }}}}"
"""


def partitions_of(executor: Component) -> list[int] | None:
    """The inbox partitions ``executor`` was last assigned (None before its first assignment)."""
    assigned = [e["partitions"] for e in executor.events() if e.get("event") == "executor_partitions_assigned"]
    return assigned[-1] if assigned else None


class Load:
    """Creates executions of ``scale4`` while fewer than ``IN_FLIGHT`` are unfinished, until stopped."""

    def __init__(self, stack: KafkaStack) -> None:
        self.stack = stack
        self.created: list[str] = []
        self._unfinished: set[str] = set()
        self._ended = 0
        self._stopping = asyncio.Event()

    def ended(self) -> int:
        for execution_id in list(self._unfinished):
            state = self.stack.state(execution_id)
            if state is not None and state.finished:
                self._unfinished.discard(execution_id)
                self._ended += 1
        return self._ended

    async def run(self) -> None:
        while not self._stopping.is_set():
            self.ended()
            if len(self._unfinished) >= IN_FLIGHT:
                await asyncio.sleep(0.02)
                continue
            n = len(self.created)
            execution_id = await self.stack.create_execution(NAMESPACE, "scale4", {"n": n})
            self.created.append(execution_id)
            self._unfinished.add(execution_id)

    def stop(self) -> None:
        self._stopping.set()


@pytest.mark.timeout(900)  # the deadlines below say what did not happen; pytest's 300 s would cut them short
async def test_two_executors_and_three_workers_on_8_partitions_survive_a_sigkilled_executor_and_its_return(
        kafka_bootstrap: str, tmp_path: Path, processes: Processes) -> None:
    settings = fresh_settings(kafka_bootstrap, partitions=PARTITIONS)
    describe = processes.describe
    async with client(settings, tmp_path / "client", [SCALE_FLOW]) as stack:
        first = processes.start(Component("executor", settings, processes.logs / "executor-a1.log"))
        second = processes.start(Component("executor", settings, processes.logs / "executor-b.log"))
        workers = [processes.start(Component("worker", settings, processes.logs / f"worker-{n}.log",
                                             home=tmp_path / f"w{n}")) for n in (1, 2, 3)]
        for component in (first, second, *workers):
            component.wait_for("kafka_executor_started" if component.kind == "executor" else "partitions_assigned",
                               within=90)

        def shared() -> bool:
            a, b = partitions_of(first), partitions_of(second)
            return bool(a) and bool(b) and sorted((a or []) + (b or [])) == list(range(PARTITIONS))

        await until(shared, "both executors holding part of the 8 partitions", within=90, describe=describe)

        load = Load(stack)
        creating = asyncio.create_task(load.run())
        try:
            await until(lambda: load.ended() >= IN_FLIGHT, "a first round of executions ended", within=120,
                        describe=describe)
            first.sigkill()
            assert first.process.returncode == -signal.SIGKILL
            killed_at = len(load.created)

            # The survivor takes every partition once the group has given the dead one up.
            await until(lambda: partitions_of(second) == list(range(PARTITIONS)),
                        "the surviving executor holding all 8 partitions", within=120, describe=describe)
            ended_alone = load.ended()
            await until(lambda: load.ended() >= ended_alone + IN_FLIGHT, "executions ending on one executor",
                        within=120, describe=describe)

            back = processes.start(Component("executor", settings, processes.logs / "executor-a2.log"))

            def moved_back() -> bool:
                a, b = partitions_of(back), partitions_of(second)
                return bool(a) and b is not None and 0 < len(b) < PARTITIONS and sorted((a or []) + b) == list(
                    range(PARTITIONS))

            await until(moved_back, "partitions moved back to the restarted executor", within=120,
                        describe=describe)
            returned = load.ended()
            await until(lambda: load.ended() >= returned + AFTER_RETURN, "executions ending on both executors again",
                        within=120, describe=describe)
        finally:
            load.stop()
            await creating

        assert killed_at < len(load.created), "no execution was created after the kill"
        ended = await wait_all(stack, load.created, within=180, describe=describe)

    assert Counter(e.state.current for e in ended.values()) == {StateType.SUCCESS: len(load.created)}
    for execution in ended.values():
        assert [tr.task_id for tr in execution.task_run_list] == SCALE_TASKS, execution.id
        for tr in execution.task_run_list:
            # One attempt, SUCCESS: a result delivered again after the crash was not applied again.
            assert [a.state.current for a in tr.attempts] == [StateType.SUCCESS], (execution.id, tr.task_id)
        ends = [h.state for h in execution.state.histories if h.state.is_terminated]
        assert ends == [StateType.SUCCESS], (execution.id, ends)
        n = int((execution.inputs or {})["n"])
        assert execution.taskruns_of("answer")[0].outputs == {"value": f"{n}*2={n * 2}"}
