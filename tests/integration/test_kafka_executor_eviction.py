"""Bounded executor state on Kafka: an ended execution leaves the tables after its grace, and still restarts,
takes labels, has a task run's state changed and replays from its last snapshot on the executions topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import Event, ExecutionReplayed, LabelsSet, RestartRequested, TaskRunStateSet
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.ids import new_id
from kestra_stream.kafka import encode_event
from kestra_stream.kafka._snapshots import latest_snapshot
from kestra_stream.kafka.executor import KafkaExecutor
from kestra_stream.models.state import StateType
from tests.integration.test_kafka_executor import Harness

GRACE = 1.0


def fail_b_once(job: RunTask) -> StateType:
    return StateType.FAILED if job.task.id == "b" and job.attempt == 1 else StateType.SUCCESS


class EvictingHarness(Harness):
    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap, fail_b_once)
        self.settings = self.settings.model_copy(update={"ended_grace_seconds": GRACE})

    def send(self, event: Event) -> None:
        self.producer.produce(self.settings.topic("executor"), key=event.execution_id, value=encode_event(event))
        self.producer.flush(5)

    async def latest(self, execution_id: str, done: Callable[[ExecutionState], bool],
                     within: float = 60) -> ExecutionState:
        await self.until(execution_id, done, within)
        return self.snapshots[execution_id][-1]


async def evicted(executor: KafkaExecutor, execution_id: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while executor.state(execution_id) is not None:
        assert time.monotonic() < deadline, f"{execution_id} is still in the executor's table"
        await asyncio.sleep(0.05)


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[EvictingHarness]:
    async with EvictingHarness(kafka_bootstrap) as h:
        yield h


def _at() -> datetime:
    return datetime.now(UTC)


async def test_an_ended_execution_leaves_the_tables_after_its_grace_and_restarts_from_its_snapshot(
        harness: EvictingHarness) -> None:
    async with harness.executor() as executor:
        execution_id = harness.create("three_logs")
        failed = await harness.finished(execution_id)
        assert failed.execution.state.current is StateType.FAILED
        await evicted(executor, execution_id)
        assert executor.held() == 0
        # The final snapshot is where readers find it.
        archived = await asyncio.to_thread(latest_snapshot, harness.settings, execution_id)
        assert archived is not None and archived.execution.state.current is StateType.FAILED

        # A restart of the evicted execution reads its snapshot back and runs the failed task again.
        harness.send(RestartRequested(event_id=new_id(), execution_id=execution_id, at=_at()))
        restarted = await harness.latest(execution_id, lambda s: s.execution.state.current is StateType.SUCCESS)
        assert [len(tr.attempts) for tr in restarted.execution.taskruns_of("b")] == [2]
        assert [tr.current for tr in restarted.execution.task_run_list] == [StateType.SUCCESS] * 3
        await evicted(executor, execution_id)

        # Labels on an evicted execution too.
        harness.send(LabelsSet(event_id=new_id(), execution_id=execution_id, at=_at(), labels={"checked": "yes"}))
        labelled = await harness.latest(execution_id, lambda s: s.execution.labels.get("checked") == "yes")
        assert labelled.execution.state.current is StateType.SUCCESS
        await evicted(executor, execution_id)

        # A task run's state changed on an evicted execution: it runs on from its snapshot, to WARNING.
        c = labelled.execution.taskruns_of("c")[0]
        harness.send(TaskRunStateSet(event_id=new_id(), execution_id=execution_id, at=_at(), taskrun_id=c.id,
                                     state=StateType.WARNING))
        warned = await harness.latest(execution_id, lambda s: s.execution.state.current is StateType.WARNING)
        assert [tr.current for tr in warned.execution.task_run_list] == [StateType.SUCCESS] * 2 + [StateType.WARNING]
        assert warned.execution.labels.get("checked") == "yes"
        await evicted(executor, execution_id)

        # A replay starts a new execution from the snapshot, as the API builds it.
        source = await asyncio.to_thread(latest_snapshot, harness.settings, execution_id)
        assert source is not None
        replay_id = new_id()
        harness.send(ExecutionReplayed(event_id=new_id(), execution_id=replay_id, at=_at(), source=source.execution))
        replayed = await harness.finished(replay_id)
        assert replayed.execution.original_id == execution_id
        await evicted(executor, replay_id)

    # A restarted executor recovers tables without the evicted executions and folds a new one.
    async with harness.executor() as again:
        assert again.state(execution_id) is None and again.state(replay_id) is None
        fresh = harness.create("sleeper")
        assert (await harness.finished(fresh)).execution.state.current is StateType.SUCCESS
