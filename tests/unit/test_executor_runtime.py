"""The executor runtime's failure contract, on the in-memory executor: no broker, no file, no sleep."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from structlog.testing import capture_logs

from kestra_stream.errors import BackendError
from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import ExecutionCreated, TaskResult
from kestra_stream.executor.memory import MemoryExecutor, _Planned
from kestra_stream.executor.runtime import Decision, ManualClock, OutageLog
from kestra_stream.flows import load_flow
from kestra_stream.ids import derive_id
from kestra_stream.log import RepeatedLines
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType
from tests.failing_plugins import RAISING_FLOW, registry_with_failing_plugins

AT = ManualClock().now()
LOGS_FLOW = """
id: two_logs
namespace: test.runtime
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: one}
  - {id: b, type: io.kestra.plugin.core.log.Log, message: two}
"""


class Revisions:
    """Flows by (namespace, id, revision); a revision can be made to appear once the clock reaches a time."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._flows: dict[tuple[str, str, int], tuple[Flow, float]] = {}

    def add(self, source: str, revision: int, *, visible_at: float = 0.0) -> Flow:
        flow = load_flow(source, registry=registry_with_failing_plugins())
        self._flows[(flow.namespace, flow.id, revision)] = (flow, visible_at)
        return flow

    def get(self, namespace: str, flow_id: str, revision: int | None) -> tuple[Flow, int]:
        assert revision is not None
        found = self._flows.get((namespace, flow_id, revision))
        if found is None or found[1] > self._clock.monotonic():
            raise BackendError(f"flow '{namespace}.{flow_id}' revision {revision} does not exist")
        return found[0], revision


def succeed(job: RunTask) -> TaskResult:
    return TaskResult(event_id=derive_id("result", job.job_id), execution_id=job.execution_id, at=AT,
                      taskrun_id=job.taskrun_id, attempt=job.attempt, state=StateType.SUCCESS)


def created(flow_id: str, revision: int = 1, execution_id: str = "x1") -> ExecutionCreated:
    return ExecutionCreated(event_id=f"created-{execution_id}", execution_id=execution_id, at=AT,
                            namespace="test.runtime" if flow_id == "two_logs" else "test.failing", flow_id=flow_id,
                            flow_revision=revision)


def executor(**options: Any) -> tuple[MemoryExecutor, Revisions]:
    clock = ManualClock()
    flows = Revisions(clock)
    return MemoryExecutor(flows, worker=succeed, clock=clock, **options), flows


async def test_a_flowable_whose_resolve_raises_fails_its_task_run_with_the_traceback_then_runs_errors() -> None:
    ex, flows = executor()
    flows.add(RAISING_FLOW, 1)

    await ex.run(created("raising"))

    execution = ex.states["x1"].execution
    assert execution.state.current is StateType.FAILED
    assert [tr.current for tr in execution.taskruns_of("broken")] == [StateType.FAILED]
    assert [tr.current for tr in execution.taskruns_of("handler")] == [StateType.SUCCESS]
    assert execution.taskruns_of("never") == []
    [line] = [e for e in ex.logs if e.task_id == "broken"]
    assert "RuntimeError: the plugin broke while resolving" in line.message
    assert "Traceback (most recent call last)" in line.message and "in resolve" in line.message


async def test_a_revision_that_appears_within_the_wait_is_folded_as_usual() -> None:
    ex, flows = executor(flow_wait_seconds=30.0)
    flows.add(LOGS_FLOW, 2, visible_at=3.0)

    await ex.run(created("two_logs", revision=2))

    assert ex.states["x1"].execution.state.current is StateType.SUCCESS
    assert 3.0 <= ex.clock.monotonic() < 30.0


async def test_a_revision_still_unknown_after_the_wait_fails_the_execution_naming_it() -> None:
    ex, flows = executor(flow_wait_seconds=30.0)
    flows.add(LOGS_FLOW, 1)

    await ex.run(created("two_logs", revision=7))

    execution = ex.states["x1"].execution
    assert execution.state.current is StateType.FAILED and execution.flow_revision == 7
    assert ex.clock.monotonic() >= 30.0
    [line] = ex.logs
    assert "Flow test.runtime.two_logs revision 7 is not known to the executor" in line.message
    assert ex.acknowledged == ["created-x1"]


async def test_an_outage_is_retried_until_the_write_holds_and_logged_a_bounded_number_of_times() -> None:
    ex, flows = executor(refuse_writes=500)
    flows.add(LOGS_FLOW, 1)

    with capture_logs() as lines:
        await ex.run(created("two_logs"))

    assert ex.states["x1"].execution.state.current is StateType.SUCCESS
    assert ex.write_attempts == 500 + 3  # the creation retried until it held, then two results written once
    outage = [line["event"] for line in lines if line["event"].startswith("executor_delivery")]
    elapsed = ex.clock.monotonic()
    # Backoff caps at 5 s: 500 refusals last about 2,500 s, summarised every 30 s rather than once each.
    assert elapsed > 2000
    assert outage[0] == "executor_delivery_failing" and outage[-1] == "executor_delivery_recovered"
    assert len(outage) <= 2 + elapsed / 30 + 1


async def test_an_event_is_acknowledged_only_once_its_effects_are_written() -> None:
    ex, flows = executor(refuse_writes=3)
    flows.add(LOGS_FLOW, 1)
    acknowledged_at_write: list[list[str]] = []
    write = ex.write

    async def watching(planned: _Planned) -> None:
        acknowledged_at_write.append(list(ex.acknowledged))
        await write(planned)

    ex.write = watching  # type: ignore[method-assign]
    await ex.run(created("two_logs"))

    assert acknowledged_at_write[:4] == [[], [], [], []]  # three refused writes, then the one that held


async def test_effects_that_cannot_be_prepared_fail_the_execution_with_the_traceback() -> None:
    ex, flows = executor()
    flows.add(LOGS_FLOW, 1)
    prepare = ex.prepare

    def broken_once(decision: Decision) -> _Planned:
        if decision.flow is not None and decision.event.kind == "created":
            raise ValueError("cannot encode this")
        return prepare(decision)

    ex.prepare = broken_once  # type: ignore[method-assign]
    with capture_logs():
        await ex.run(created("two_logs"))

    execution = ex.states["x1"].execution
    assert execution.state.current is StateType.FAILED and execution.task_run_list == ()
    [line] = ex.logs
    assert "its effects could not be prepared: ValueError: cannot encode this" in line.message
    assert "Traceback" in line.message


@pytest.mark.parametrize("failures", [1, 10, 1000])
def test_outage_log_writes_first_failure_summaries_and_recovery_only(failures: int) -> None:
    clock = ManualClock()
    outage = OutageLog("thing", clock, every=30.0)
    with capture_logs() as lines:
        for _ in range(failures):
            outage.failed(BackendError("broker away"))
            clock.advance(0.1)
        outage.recovered()
    events = [line["event"] for line in lines]
    assert events[0] == "thing_failing" and events[-1] == "thing_recovered"
    assert events.count("thing_still_failing") == int(failures * 0.1 // 30)
    assert lines[-1]["failures"] == failures


def test_a_library_line_repeated_during_an_outage_passes_once_per_period_with_a_count() -> None:
    now = [0.0]
    repeats = RepeatedLines(every=30.0, clock=lambda: now[0])
    passed: list[str] = []
    for attempt in range(3000):  # aiokafka's reconnect lines, 100 a second for 30 s
        record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1,
                                   "Unable connect to node with id %s: %s", (1, f"attempt {attempt}"), None)
        if repeats.filter(record):
            passed.append(record.getMessage())
        now[0] += 0.01
    other = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "Unable to update metadata", (), None)

    assert passed == ["Unable connect to node with id 1: attempt 0"]
    assert repeats.filter(other)
    now[0] += 1.0
    late = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "Unable connect to node with id %s: %s",
                             (1, "again"), None)
    assert repeats.filter(late) and late.getMessage() == "Unable connect to node with id 1: again " \
        "[2999 more like it in the last 31s]"
