"""The scheduler on the real broker: restart under ALL, two schedulers sharing the triggers, disabled triggers.

One Kafka stack (executor and worker) per module, on its own loop thread (see tests/e2e/conftest.py);
the schedulers run on the test's loop and reach the stack through ``ThreadedBackend``. Schedules
fire every second (``withSeconds``) on the real clock, so each test lasts a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.scheduler import KafkaScheduler, KafkaTriggerStore, partition_of, set_disabled
from tests.e2e.conftest import START_TIMEOUT, LoopThread, ThreadedBackend

pytestmark = pytest.mark.kafka

FLOW = """
id: {flow_id}
namespace: it.kafka.scheduler
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.date }}}}"
triggers:
  - id: every_second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
    disabled: {disabled}
"""


class Seen:
    """Executions created by the scheduler, by id, from the stack's state stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.states: dict[str, ExecutionState] = {}

    def __call__(self, state: ExecutionState) -> None:
        with self._lock:
            self.states[state.execution.id] = state

    def dates(self, flow_id: str) -> list[datetime]:
        with self._lock:
            found = [s.execution for s in self.states.values() if s.execution.flow_id == flow_id]
        return sorted(datetime.fromisoformat(e.trigger["variables"]["date"]) for e in found if e.trigger)


class Stack:
    def __init__(self, settings: KafkaSettings, stack: KafkaStack, backend: ThreadedBackend, seen: Seen) -> None:
        self.settings = settings
        self.stack = stack
        self.backend = backend
        self.seen = seen

    def scheduler(self) -> KafkaScheduler:
        return KafkaScheduler(self.backend, self.stack.flows, self.settings, storage=self.stack.storage,
                              tick_seconds=0.2)

    def deploy(self, *, disabled: bool = False) -> str:
        flow_id = f"f{uuid.uuid4().hex[:8]}"
        self.stack.deploy(FLOW.format(flow_id=flow_id, disabled=str(disabled).lower()))
        return flow_id


@pytest.fixture(scope="module")
def kafka(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"it-sched-{uuid.uuid4().hex[:8]}.",
                             partitions=2)
    stack = KafkaStack(settings, home=tmp_path_factory.mktemp("sched-home"))
    loop = LoopThread("scheduler-kafka-stack")
    seen = Seen()
    try:
        loop.run(stack.start(), START_TIMEOUT)
        stack.subscribe(seen)
        yield Stack(settings, stack, ThreadedBackend(stack, loop), seen)
    finally:
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)]
        if topics:
            for future in admin.delete_topics(topics).values():
                future.result(30)


async def stop_firing(kafka: Stack, *flow_ids: str) -> None:
    """Disable this test's triggers, so the schedulers of later tests leave them alone."""
    async with KafkaTriggerStore(kafka.settings) as store:
        for flow_id in flow_ids:
            await set_disabled(store, f"it.kafka.scheduler/{flow_id}/every_second", True)


async def until(predicate: object, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {timeout} s")


def contiguous(dates: list[datetime]) -> bool:
    """Every second from the first date to the last, each once."""
    return all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(dates))


async def test_a_restarted_scheduler_fires_every_missed_second_once(kafka: Stack) -> None:
    flow_id = kafka.deploy()
    first = kafka.scheduler()
    await first.start()
    try:
        await until(lambda: len(kafka.seen.dates(flow_id)) >= 2, 30)
    finally:
        await first.stop()
    stopped_at = datetime.now().astimezone()
    await asyncio.sleep(2.5)  # dates due while no scheduler runs
    second = kafka.scheduler()
    await second.start()
    try:
        await until(lambda: (d := kafka.seen.dates(flow_id)) != [] and d[-1] > stopped_at + timedelta(seconds=4), 30)
    finally:
        await second.stop()
    await stop_firing(kafka, flow_id)
    dates = kafka.seen.dates(flow_id)
    assert contiguous(dates), dates
    assert dates[-1] - dates[0] >= timedelta(seconds=5)


async def test_two_schedulers_share_the_triggers_and_fire_each_second_once(kafka: Stack) -> None:
    flow_ids = [kafka.deploy() for _ in range(4)]
    schedulers = [kafka.scheduler(), kafka.scheduler()]
    await asyncio.gather(*(s.start() for s in schedulers))
    try:
        await until(lambda: all(s.ownership.owned for s in schedulers), 30)
        owned = [s.ownership.owned for s in schedulers]
        await until(lambda: all(len(kafka.seen.dates(f)) >= 4 for f in flow_ids), 30)
    finally:
        await asyncio.gather(*(s.stop() for s in schedulers))
    await stop_firing(kafka, *flow_ids)
    assert sorted(owned[0] + owned[1]) == [0, 1]
    for flow_id in flow_ids:
        dates = kafka.seen.dates(flow_id)
        assert contiguous(dates), (flow_id, dates)


async def test_triggers_disabled_in_the_flow_or_through_the_state_do_not_fire(kafka: Stack) -> None:
    in_flow = kafka.deploy(disabled=True)
    by_api = kafka.deploy()
    control = kafka.deploy()
    await stop_firing(kafka, by_api)
    scheduler = kafka.scheduler()
    await scheduler.start()
    try:
        await until(lambda: len(kafka.seen.dates(control)) >= 3, 30)
    finally:
        await scheduler.stop()
    await stop_firing(kafka, control)
    assert kafka.seen.dates(in_flow) == [] and kafka.seen.dates(by_api) == []
    record = scheduler.store.get(f"it.kafka.scheduler/{by_api}/every_second")
    assert record is not None and record.disabled


def test_partition_of_matches_the_producer_partitioner(kafka: Stack) -> None:
    topic = kafka.settings.topic("triggers")
    producer = Producer(kafka.settings.producer_config())
    delivered: dict[str, int | None] = {}
    keys = [f"ns.{i}/flow/trigger" for i in range(20)]
    for key in keys:
        producer.produce(topic, key=key.encode(), value=None,
                         on_delivery=lambda _e, m: delivered.__setitem__(str(m.key() or b"", "utf-8"), m.partition()))
    producer.flush(10)
    assert delivered == {k: partition_of(k, kafka.settings.partitions) for k in keys}
