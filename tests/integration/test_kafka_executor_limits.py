"""The Kafka executor never holds a partition back on a record too large to store: the execution fails instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import TaskResult
from kestra_stream.ids import new_id
from kestra_stream.kafka import decode_job, encode_event
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from tests.integration.test_kafka_executor import Harness, succeed


class BigOutputs(Harness):
    """Each task of ``three_logs`` answers with 600 KB of outputs: two make a state above the 1 MB record limit."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap, succeed)
        self.logs: list[LogEntry] = []

    async def __aenter__(self) -> BigOutputs:
        await super().__aenter__()
        self._loops.append(asyncio.create_task(self._consume("logs", self._on_log)))
        return self

    def _on_log(self, _key: bytes | None, value: bytes) -> None:
        self.logs.append(LogEntry.model_validate_json(value))

    def _on_job(self, key: bytes | None, value: bytes) -> None:
        job: RunTask = decode_job(value)
        self.jobs.append(job)
        result = TaskResult(event_id=new_id(), execution_id=job.execution_id, at=datetime.now(UTC),
                            taskrun_id=job.taskrun_id, attempt=job.attempt, state=StateType.SUCCESS,
                            outputs={"value": "x" * 600_000} if job.flow_id == "three_logs" else None)
        self.producer.produce(self.settings.topic("executor"), key=job.execution_id, value=encode_event(result))
        self.producer.poll(0)


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[BigOutputs]:
    async with BigOutputs(kafka_bootstrap) as h:
        yield h


async def test_a_state_too_large_for_a_record_fails_the_execution_and_the_partition_goes_on(
        harness: BigOutputs) -> None:
    async with harness.executor():
        big = harness.create("three_logs")
        state = await harness.finished(big, within=60)
        # The same partitions keep folding: a later execution of a small flow ends as usual.
        small = harness.create("sleeper")
        assert (await harness.finished(small, within=60)).execution.state.current is StateType.SUCCESS

    execution = state.execution
    assert execution.state.current is StateType.FAILED
    assert [tr.current for tr in execution.taskruns_of("a")] == [StateType.SUCCESS]
    assert [tr.current for tr in execution.taskruns_of("b")] == [StateType.FAILED]
    assert execution.taskruns_of("c") == []
    await harness.until(big, lambda _s: any("The execution's state: " in e.message for e in harness.logs))
    message = next(e.message for e in harness.logs if "The execution's state: " in e.message)
    assert "above the 1,000,000 bytes a Kafka record may hold (message.max.bytes)" in message
