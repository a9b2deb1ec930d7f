"""Kestra's trigger.Toggle seen where it acts: the scheduler no longer fires a trigger it disabled.

``execute`` runs no scheduler, so a compat case cannot show it. Here each backend runs the toggling
flows (on Kafka, a stack whose worker writes the trigger state to the triggers topic) and its scheduler,
with a fake clock, fires (or not) the Schedule they toggle. Kestra's ToggleTest has a flow re-enable
its own trigger; Toggle's `enabled` defaults to false.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kestra_stream.backend import Backend
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaStack
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import (
    EmbeddedScheduler,
    KafkaScheduler,
    Scheduler,
    TriggerStore,
    TriggerTopicSwitch,
)
from tests._clock import Clock
from tests._flow_trigger_setup import started_kafka_stack
from tests._waiting import until
from tests.e2e.conftest import START_TIMEOUT, LoopThread, ThreadedBackend

NS = "compat.toggle"

# Run by hand, it disables its own hourly trigger (the old type name; no namespace, flowId nor enabled).
HOURLY = f"""
id: hourly
namespace: {NS}
tasks:
  - id: switch_off
    type: io.kestra.core.tasks.trigger.Toggle
    trigger: every_hour
triggers:
  - id: every_hour
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
"""

SWITCH_ON = f"""
id: switch_on
namespace: {NS}
tasks:
  - id: enable
    type: io.kestra.plugin.core.trigger.Toggle
    namespace: "{{{{ flow.namespace }}}}"
    flowId: hourly
    trigger: "every_{{{{ 'hour' }}}}"
    enabled: true
"""


UID = f"{NS}/hourly/every_hour"


@dataclass
class Setup:
    backend: Backend
    scheduler: Scheduler
    store: TriggerStore


@pytest.fixture(scope="module")
def kafka_stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaStack,
                                                                                                  LoopThread]]:
    for stack, loop in started_kafka_stack(kafka_bootstrap, tmp_path_factory.mktemp("kafka-toggle"), "compat-toggle"):
        # The stack's worker writes trigger state as a worker process does: to the triggers topic.
        switch = TriggerTopicSwitch(stack.settings)
        stack.services.use_triggers(switch)
        try:
            yield stack, loop
        finally:
            loop.run(switch.stop(), START_TIMEOUT)


@pytest.fixture
def clock() -> Clock:
    return Clock("2025-03-03T08:30:00+00:00")


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def setup(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[Setup]:
    if request.param == "kafka":
        stack, loop = request.getfixturevalue("kafka_stack")
        backend = ThreadedBackend(stack, loop)
        kafka = KafkaScheduler(backend, stack.flows, stack.settings, storage=stack.storage, now=clock,
                               tick_seconds=3600)
        # Started for its share of the triggers (its consumer group's assignment); the test ticks it by hand.
        async with kafka:
            await until(lambda: kafka.ownership.owns(UID), "the scheduler owning the trigger's partition")
            yield Setup(backend, kafka.scheduler, kafka.store)
        return
    async with EmbeddedEngine(tmp_path / "home") as engine:
        scheduler = EmbeddedScheduler(engine, now=clock, tick_seconds=3600)
        try:
            yield Setup(engine, scheduler, scheduler.store)
        finally:
            await scheduler.stop()


async def _run(backend: Backend, flow_id: str) -> None:
    execution = await backend.wait(await backend.create_execution(NS, flow_id), timeout=60)
    assert execution.state.current == StateType.SUCCESS, [entry.message for entry in backend.logs(execution.id)]


def _disabled(store: TriggerStore) -> bool | None:
    record = store.get(UID)
    return record.disabled if record is not None else None


async def test_a_toggled_off_schedule_fires_no_date_until_toggled_on_again(setup: Setup, clock: Clock) -> None:
    created: dict[str, ExecutionState] = {}
    setup.backend.subscribe(lambda state: created.__setitem__(state.execution.id, state))
    setup.backend.deploy(HOURLY)
    setup.backend.deploy(SWITCH_ON)
    scheduler = setup.scheduler

    def fired() -> list[str]:
        return sorted(str(s.execution.trigger["variables"]["date"])[11:16] for s in created.values()
                      if s.execution.trigger is not None and s.execution.flow_id == "hourly")

    # On Kafka the flows reach the scheduler's copy of the flows topic a moment after their deploy.
    await until(lambda: {"hourly", "switch_on"} <= {f.id for f in scheduler.flows.all_latest() if f.namespace == NS},
                "the flows known to the scheduler")
    await scheduler.tick()  # the trigger starts from now: its first date is 09:00
    clock.set("2025-03-03T09:10:00+00:00")
    await scheduler.tick()
    await until(lambda: fired() == ["09:00"], "the 09:00 date fired")

    await _run(setup.backend, "hourly")  # disables its own trigger (on Kafka, the worker writes the topic)
    await until(lambda: _disabled(setup.store) is True, "the trigger state disabled")
    clock.set("2025-03-03T12:10:00+00:00")
    await scheduler.tick()
    await asyncio.sleep(0.5)
    assert fired() == ["09:00"], "a disabled trigger fired"

    await _run(setup.backend, "switch_on")
    await until(lambda: _disabled(setup.store) is False, "the trigger state enabled")
    clock.set("2025-03-03T13:10:00+00:00")
    await scheduler.tick()
    # Enabled again, it recovers what it missed by its policy (ALL, the default): 10:00 to 13:00.
    await until(lambda: fired() == ["09:00", "10:00", "11:00", "12:00", "13:00"], "the missed dates fired")
