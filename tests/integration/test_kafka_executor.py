"""The faust executor against a real broker, driven by a tiny fake worker.

Every test uses its own topic prefix and app id, so tests never see each other's data.
The fake worker answers each RunTask on the jobs topic with a TaskResult on the inbox.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Literal

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from kestra_stream.errors import BackendError
from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    Command,
    ExecutionEnded,
    KillExecution,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.events import (
    Dequeued,
    ExecutionCreated,
    KillRequested,
    Rejected,
    SubflowEnded,
    TaskResult,
)
from kestra_stream.executor.fold import ExecutionState, fold
from kestra_stream.executor.slots import SlotBook, SlotRequest, apply_request
from kestra_stream.flows import load_flow
from kestra_stream.ids import new_id
from kestra_stream.kafka import KafkaSettings, decode_event, decode_job, decode_state, encode_event
from kestra_stream.kafka.executor import KafkaExecutor, create_executor, plan_commands
from kestra_stream.models.execution import ParentLink
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType

AT = datetime(2024, 1, 1, tzinfo=UTC)
LOGS_FLOW = """
id: three_logs
namespace: test.kafka
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: one}
  - {id: b, type: io.kestra.plugin.core.log.Log, message: two}
  - {id: c, type: io.kestra.plugin.core.log.Log, message: three}
"""
RETRY_FLOW = """
id: retried
namespace: test.kafka
tasks:
  - id: flaky
    type: io.kestra.plugin.core.log.Log
    message: flaky
    retry: {type: constant, interval: PT0.2S, maxAttempt: 3}
"""
SLEEP_FLOW = """
id: sleeper
namespace: test.kafka
tasks:
  - {id: before, type: io.kestra.plugin.core.log.Log, message: before}
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT1S}
  - {id: after, type: io.kestra.plugin.core.log.Log, message: after}
"""
LONG_SLEEP_FLOW = """
id: long_sleeper
namespace: test.kafka
tasks:
  - {id: before, type: io.kestra.plugin.core.log.Log, message: before}
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT4S}
  - {id: after, type: io.kestra.plugin.core.log.Log, message: after}
"""
LIMITED_FLOW = """
id: limited
namespace: test.kafka
concurrency: {limit: 1}
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT0.5S}
  - {id: done, type: io.kestra.plugin.core.log.Log, message: done}
"""


class DictFlows:
    def __init__(self, *sources: str) -> None:
        self._flows = {(f.namespace, f.id): f for f in (load_flow(s) for s in sources)}

    def get(self, namespace: str, flow_id: str, revision: int | None) -> tuple[Flow, int]:
        flow = self._flows.get((namespace, flow_id))
        if flow is None:
            raise BackendError(f"flow '{namespace}.{flow_id}' does not exist")
        return flow, 1


Decide = Callable[[RunTask], StateType]


class Harness:
    """Topics for one test, a producer to the inbox, the fake worker, and the snapshots seen."""

    def __init__(self, bootstrap: str, decide: Decide) -> None:
        token = uuid.uuid4().hex[:10]
        self.settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"t{token}.", partitions=2,
                                      executor_app_id=f"executor-{token}")
        self.decide = decide
        # murmur2, as the executor's own producer (aiokafka) partitions: one execution, one partition.
        self.producer = Producer(self.settings.client_config(partitioner="murmur2_random"))
        self.snapshots: dict[str, list[ExecutionState]] = {}
        self.jobs: list[RunTask] = []
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    def create_topics(self) -> None:
        admin = AdminClient(self.settings.client_config())
        names = ["executor", "executions", "jobs", "killed", "concurrency", "logs", "dead_letters",
                 "heartbeats"]
        topics = [NewTopic(self.settings.topic(n), num_partitions=self.settings.partitions, replication_factor=1)
                  for n in names]
        for future in admin.create_topics(topics).values():
            future.result(timeout=10)

    async def __aenter__(self) -> Harness:
        self.create_topics()
        self._loops = [asyncio.create_task(self._consume("jobs", self._on_job)),
                       asyncio.create_task(self._consume("executions", self._on_snapshot))]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._loops)
        self.producer.flush(5)

    def executor(self) -> KafkaExecutor:
        flows = DictFlows(LOGS_FLOW, RETRY_FLOW, SLEEP_FLOW, LONG_SLEEP_FLOW, LIMITED_FLOW)
        return create_executor(self.settings, flows)

    def create(self, flow_id: str) -> str:
        execution_id = new_id()
        event = ExecutionCreated(event_id=new_id(), execution_id=execution_id, at=datetime.now(UTC),
                                 namespace="test.kafka", flow_id=flow_id, flow_revision=1)
        self.producer.produce(self.settings.topic("executor"), key=execution_id, value=encode_event(event))
        self.producer.flush(5)
        return execution_id

    async def until(self, execution_id: str, done: Callable[[ExecutionState], bool], within: float = 120) -> None:
        deadline = time.monotonic() + within
        while not any(done(s) for s in self.snapshots.get(execution_id, [])):
            if time.monotonic() > deadline:
                seen = [s.execution.state.current for s in self.snapshots.get(execution_id, [])]
                raise AssertionError(f"execution {execution_id} never got there; states seen: {seen}")
            await asyncio.sleep(0.02)

    async def finished(self, execution_id: str, within: float = 120) -> ExecutionState:
        await self.until(execution_id, lambda s: s.finished, within)
        return self.snapshots[execution_id][-1]

    def _on_job(self, key: bytes | None, value: bytes) -> None:
        job = decode_job(value)
        self.jobs.append(job)
        result = TaskResult(event_id=new_id(), execution_id=job.execution_id, at=datetime.now(UTC),
                            taskrun_id=job.taskrun_id, attempt=job.attempt, state=self.decide(job))
        self.producer.produce(self.settings.topic("executor"), key=job.execution_id, value=encode_event(result))
        self.producer.poll(0)

    def _on_snapshot(self, key: bytes | None, value: bytes) -> None:
        state = decode_state(value)
        self.snapshots.setdefault(state.execution.id, []).append(state)

    async def _consume(self, topic: str, handle: Callable[[bytes | None, bytes], None]) -> None:
        consumer = Consumer(self.settings.client_config(**{
            "group.id": f"{self.settings.executor_app_id}-{topic}-reader", "auto.offset.reset": "earliest"}))
        consumer.subscribe([self.settings.topic(topic)])
        try:
            while not self._stop.is_set():
                message = await asyncio.to_thread(consumer.poll, 0.05)
                value = message.value() if message is not None and message.error() is None else None
                if message is not None and value is not None:
                    handle(message.key(), value)
        finally:
            consumer.close()


def succeed(_job: RunTask) -> StateType:
    return StateType.SUCCESS


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[Harness]:
    async with Harness(kafka_bootstrap, succeed) as h:
        yield h


def _history(state: ExecutionState) -> list[StateType]:
    return [h.state for h in state.execution.state.histories]


# ----- pure: the concurrency book ----------------------------------------------------------------

def _acquire(execution_id: str, behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE") -> SlotRequest:
    return SlotRequest.acquire(AcquireSlot(execution_id=execution_id, namespace="n", flow_id="f", limit=1,
                                           behavior=behavior))


def test_slot_book_queues_past_the_limit_and_dequeues_the_oldest_on_release() -> None:
    book, first = apply_request(SlotBook(), _acquire("e1"), AT)
    book, second = apply_request(book, _acquire("e2"), AT)
    book, third = apply_request(book, _acquire("e3"), AT)
    assert [type(e) for e in first] == [Dequeued] and second == [] and third == []
    book, released = apply_request(book, SlotRequest.release("e1", "n", "f"), AT)
    assert [e.execution_id for e in released] == ["e2"]
    assert book.holders == ["e2"] and book.queued == ["e3"]


def test_slot_book_redelivered_requests_change_nothing() -> None:
    book, _ = apply_request(SlotBook(), _acquire("e1"), AT)
    again, events = apply_request(book, _acquire("e1"), AT)
    assert again == book and [e.event_id for e in events] == [apply_request(SlotBook(), _acquire("e1"), AT)[1][0]
                                                               .event_id]
    gone, _ = apply_request(book, SlotRequest.release("e1", "n", "f"), AT)
    assert apply_request(gone, SlotRequest.release("e1", "n", "f"), AT) == (gone, [])


def test_slot_book_rejects_with_the_flow_behavior_when_full() -> None:
    book, _ = apply_request(SlotBook(), _acquire("e1"), AT)
    _, events = apply_request(book, _acquire("e2", "CANCEL"), AT)
    assert len(events) == 1 and isinstance(events[0], Rejected) and events[0].state is StateType.CANCELLED
    _, failed = apply_request(book, _acquire("e3", "FAIL"), AT)
    assert isinstance(failed[0], Rejected) and failed[0].state is StateType.FAILED


def test_released_queued_execution_leaves_the_queue_without_taking_a_slot() -> None:
    book, _ = apply_request(SlotBook(), _acquire("e1"), AT)
    book, _ = apply_request(book, _acquire("e2"), AT)
    book, events = apply_request(book, SlotRequest.release("e2", "n", "f"), AT)
    assert events == [] and book.holders == ["e1"] and book.queued == []


# ----- pure: commands into messages ---------------------------------------------------------------

def _created(source: str, **extra: object) -> tuple[ExecutionState, Flow, list[Command]]:
    flow = load_flow(source)
    event = ExecutionCreated(event_id="e0", execution_id="x1", at=AT, namespace=flow.namespace, flow_id=flow.id,
                             flow_revision=1, **extra)
    state, commands = fold(None, event, flow)
    assert state is not None
    return state, flow, commands


def _cause() -> KillRequested:
    return KillRequested(event_id="cause", execution_id="x1", at=AT)


def test_plan_sends_a_job_keyed_by_task_run_and_an_acquire_keyed_by_flow() -> None:
    state, flow, commands = _created(LOGS_FLOW)
    plan = plan_commands(_cause(), state, commands, flow, DictFlows(), AT)
    job = next(c for c in commands if isinstance(c, RunTask))
    assert [(m.topic, m.key) for m in plan.messages] == [("jobs", job.taskrun_id)]
    limited_state, limited, acquire = _created(LIMITED_FLOW)
    queued = plan_commands(_cause(), limited_state, acquire, limited, DictFlows(), AT)
    assert [(m.topic, m.key) for m in queued.messages] == [("concurrency", "test.kafka/limited")]
    assert SlotRequest.model_validate_json(queued.messages[0].value).kind == "acquire"


def test_plan_keeps_timers_for_the_table_and_sends_nothing_for_them() -> None:
    state, flow, _ = _created(SLEEP_FLOW)
    timer = ScheduleTimer(execution_id="x1", timer_id="t1", fire_at=AT, purpose="sleep", taskrun_id="r", attempt=1)
    plan = plan_commands(_cause(), state, [timer, CancelTimer(execution_id="x1", timer_id="t0")], flow,
                         DictFlows(), AT)
    assert plan.messages == [] and plan.schedule == [timer] and plan.cancel == ["t0"]


def test_subflow_of_an_unknown_flow_answers_the_parent_with_a_failed_subflow_end() -> None:
    state, flow, _ = _created(LOGS_FLOW)
    start = StartSubflow(execution_id="x1", child_execution_id="c1", namespace="test.kafka", flow_id="missing",
                         parent=ParentLink(execution_id="x1", taskrun_id="r1", namespace="test.kafka",
                                           flow_id="three_logs"))
    plan = plan_commands(_cause(), state, [start], flow, DictFlows(LOGS_FLOW), AT)
    answer = decode_event(plan.messages[0].value)
    assert plan.messages[0].topic == "executor" and plan.messages[0].key == "x1"
    assert isinstance(answer, SubflowEnded) and answer.state is StateType.FAILED
    assert answer.message is not None and "test.kafka.missing could not start" in answer.message


def test_subflow_child_is_created_in_its_parents_environment_with_a_derived_id() -> None:
    state, flow, _ = _created(LOGS_FLOW, envs={"region": "eu"})
    start = StartSubflow(execution_id="x1", child_execution_id="c1", namespace="test.kafka", flow_id="sleeper",
                         parent=ParentLink(execution_id="x1", taskrun_id="r1", namespace="test.kafka",
                                           flow_id="three_logs"))
    flows = DictFlows(LOGS_FLOW, SLEEP_FLOW)
    first = plan_commands(_cause(), state, [start], flow, flows, AT).messages[0]
    again = plan_commands(_cause(), state, [start], flow, flows, AT).messages[0]
    child = decode_event(first.value)
    assert isinstance(child, ExecutionCreated) and first.key == "c1"
    assert child.envs == {"region": "eu"} and child.parent is not None and child.parent.execution_id == "x1"
    assert first == again


def test_an_ended_child_reports_to_its_waiting_parent_and_releases_its_slot() -> None:
    state, flow, _ = _created(LIMITED_FLOW)
    parent = ParentLink(execution_id="p1", taskrun_id="r1", namespace="test.kafka", flow_id="caller")
    ended = ExecutionEnded(execution_id="x1", execution=state.execution, state=StateType.SUCCESS, parent=parent)
    plan = plan_commands(_cause(), state, [ended], flow, DictFlows(), AT)
    assert [(m.topic, m.key) for m in plan.messages] == [("executor", "p1"), ("concurrency", "test.kafka/limited")]
    report = decode_event(plan.messages[0].value)
    assert isinstance(report, SubflowEnded) and report.child_execution_id == "x1"
    assert SlotRequest.model_validate_json(plan.messages[1].value).kind == "release"


def test_killing_another_execution_sends_a_request_whose_id_derives_from_its_cause() -> None:
    state, flow, _ = _created(LOGS_FLOW)
    plan = plan_commands(_cause(), state, [KillExecution(execution_id="c9")], flow, DictFlows(), AT)
    again = plan_commands(_cause(), state, [KillExecution(execution_id="c9")], flow, DictFlows(), AT)
    request = decode_event(plan.messages[0].value)
    assert isinstance(request, KillRequested) and request.execution_id == "c9"
    assert plan.messages == again.messages


async def test_start_fails_naming_the_connect_timeout_when_no_broker_answers() -> None:
    settings = KafkaSettings(bootstrap_servers="localhost:1", connect_timeout_seconds=1.0,
                             executor_app_id=f"executor-{uuid.uuid4().hex[:10]}")
    with pytest.raises(BackendError, match="did not answer within 1s") as refused:
        await create_executor(settings, DictFlows()).start()
    assert "the Kafka broker at localhost:1" in str(refused.value)
    assert "kestra-stream services up kafka" in str(refused.value)


# ----- against the broker ------------------------------------------------------------------------

@pytest.mark.kafka
async def test_start_names_the_missing_topics_and_how_to_create_them(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"none{uuid.uuid4().hex[:8]}.")
    with pytest.raises(BackendError, match=r"executor.*kestra-stream topics apply"):
        await create_executor(settings, DictFlows()).start()


@pytest.mark.kafka
async def test_three_log_tasks_end_success_with_snapshots_on_the_executions_topic(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        began = time.monotonic()
        execution_id = harness.create("three_logs")
        final = await harness.finished(execution_id)
        elapsed = time.monotonic() - began
    finally:
        await executor.stop()
    assert final.execution.state.current is StateType.SUCCESS
    assert [tr.task_id for tr in final.execution.task_run_list] == ["a", "b", "c"]
    assert [j.task.id for j in harness.jobs] == ["a", "b", "c"]
    assert len(harness.snapshots[execution_id]) >= 4  # created, then at least one per task result
    print(f"\nexecutor start {executor.started_in:.2f}s; 3-task flow end to end {elapsed * 1000:.0f} ms")


@pytest.mark.kafka
async def test_a_failed_attempt_is_retried_after_its_retry_timer_fires(kafka_bootstrap: str) -> None:
    def fail_first(job: RunTask) -> StateType:
        return StateType.FAILED if job.attempt == 1 else StateType.SUCCESS

    async with Harness(kafka_bootstrap, fail_first) as h:
        executor = h.executor()
        await executor.start()
        try:
            final = await h.finished(h.create("retried"))
        finally:
            await executor.stop()
    assert final.execution.state.current is StateType.SUCCESS
    assert [j.attempt for j in h.jobs] == [1, 2]


@pytest.mark.kafka
async def test_a_sleep_task_ends_when_its_timer_fires(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        began = time.monotonic()
        final = await harness.finished(harness.create("sleeper"))
        elapsed = time.monotonic() - began
    finally:
        await executor.stop()
    assert final.execution.state.current is StateType.SUCCESS
    assert [tr.task_id for tr in final.execution.task_run_list] == ["before", "nap", "after"]
    assert elapsed >= 1.0  # the timer's duration really passed; how fast after it is benchmarks' business


@pytest.mark.kafka
async def test_a_flow_limited_to_one_concurrent_execution_runs_two_one_after_the_other(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        first = harness.create("limited")
        second = harness.create("limited")
        ends = [await harness.finished(first), await harness.finished(second)]
    finally:
        await executor.stop()
    assert [s.execution.state.current for s in ends] == [StateType.SUCCESS, StateType.SUCCESS]
    one, two = sorted(ends, key=lambda s: s.execution.state.histories[-1].date)
    first_end = one.execution.state.end_date
    second_running = next(h.date for h in two.execution.state.histories if h.state is StateType.RUNNING)
    assert first_end is not None and second_running >= first_end
    assert StateType.QUEUED in _history(two)


@pytest.mark.kafka
async def test_an_executor_restarted_mid_execution_restores_state_and_timers_and_finishes(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    execution_id = harness.create("long_sleeper")
    try:
        await harness.until(execution_id, lambda s: any(
            tr.task_id == "nap" and tr.current is StateType.RUNNING for tr in s.execution.task_run_list))
    finally:
        await executor.stop()
    restarted = harness.executor()  # a new app instance under the same app id
    await restarted.start()
    try:
        restored = restarted.state(execution_id)
        final = await harness.finished(execution_id)
    finally:
        await restarted.stop()
    assert restored is not None and not restored.finished
    assert final.execution.state.current is StateType.SUCCESS
    assert [j.task.id for j in harness.jobs] == ["before", "after"]


def test_package_exports_exactly_its_public_names() -> None:
    import kestra_stream.kafka.executor as package

    assert all(hasattr(package, name) for name in package.__all__)
    assert {"create_executor", "KafkaExecutor", "FlowLookup"} <= set(package.__all__)
