"""The scheduler on the embedded engine, driven by a fake clock: fires, restarts, backfills, stopAfter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import (
    BACKFILL_LABEL,
    BackfillRequest,
    EmbeddedScheduler,
    delete_backfill,
    firing_key,
    pause_backfill,
    set_disabled,
    start_backfill,
)
from kestra_stream.triggers import emit_execution, triggered_execution_id
from tests._clock import Clock

UID = "it.scheduler/hourly/every_hour"
FLOW = """
id: hourly
namespace: it.scheduler
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date }}"
triggers:
  - id: every_hour
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    recoverMissedSchedules: {recover}
"""


class Run:
    """An engine and its scheduler on one home; ``created`` collects the executions seen, by id."""

    def __init__(self, home: Path, clock: Clock) -> None:
        self.engine = EmbeddedEngine(home)
        self.scheduler = EmbeddedScheduler(self.engine, now=clock, tick_seconds=3600)
        self.created: dict[str, ExecutionState] = {}

    async def __aenter__(self) -> Run:
        await self.engine.start()
        self.engine.subscribe(self._seen)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.scheduler.stop()
        await self.engine.stop()

    def _seen(self, state: ExecutionState) -> None:
        self.created[state.execution.id] = state

    def dates(self) -> list[str]:
        return sorted(str(s.execution.trigger["variables"]["date"]) for s in self.created.values()
                      if s.execution.trigger is not None)


@pytest.fixture
def clock() -> Clock:
    return Clock("2025-01-01T10:20:00+00:00")


@pytest.fixture
async def run(tmp_path: Path, clock: Clock) -> AsyncIterator[Run]:
    async with Run(tmp_path / "home", clock) as r:
        r.engine.deploy(FLOW.format(recover="ALL"))
        yield r


async def test_a_new_schedule_fires_from_now_each_date_once_with_its_variables(run: Run, clock: Clock) -> None:
    await run.scheduler.tick()
    assert run.created == {}  # 10:00 is in the past: a new trigger never backfills
    clock.set("2025-01-01T11:00:00.300000+00:00")
    await run.scheduler.tick()
    await run.scheduler.tick()
    assert run.dates() == ["2025-01-01T11:00:00+00:00"]
    state = next(iter(run.created.values()))
    flow = run.engine.catalog.get("it.scheduler", "hourly")[0]
    trigger = flow.find_trigger("every_hour")
    assert trigger is not None
    assert state.execution.id == triggered_execution_id(flow, trigger, firing_key(clock() - timedelta(seconds=0.3)))
    assert state.execution.trigger == {
        "id": "every_hour", "type": "io.kestra.plugin.core.trigger.Schedule",
        "variables": {"date": "2025-01-01T11:00:00+00:00", "next": "2025-01-01T12:00:00+00:00",
                      "previous": "2025-01-01T10:00:00+00:00"}, "kind": "SCHEDULE"}
    assert state.execution.schedule_date == datetime.fromisoformat("2025-01-01T11:00:00+00:00")
    record = run.scheduler.store.get(UID)
    assert record is not None and record.execution_id == state.execution.id
    assert record.next_execution_date == datetime.fromisoformat("2025-01-01T12:00:00+00:00")


async def test_restart_under_all_fires_every_missed_date_and_none_twice(tmp_path: Path, clock: Clock) -> None:
    home = tmp_path / "home"
    async with Run(home, clock) as first:
        first.engine.deploy(FLOW.format(recover="ALL"))
        await first.scheduler.tick()
        clock.set("2025-01-01T11:00:01+00:00")
        await first.scheduler.tick()
        assert first.dates() == ["2025-01-01T11:00:00+00:00"]
        created = dict(first.created)
    clock.set("2025-01-01T14:10:00+00:00")  # down from 11:00:01 to 14:10
    async with Run(home, clock) as second:
        second.created.update(created)  # by id: a date fired again would be a second id
        await second.scheduler.tick()
        assert second.dates() == ["2025-01-01T11:00:00+00:00", "2025-01-01T12:00:00+00:00",
                                  "2025-01-01T13:00:00+00:00", "2025-01-01T14:00:00+00:00"]


async def test_restart_under_last_fires_only_the_latest_missed_date(tmp_path: Path, clock: Clock) -> None:
    home = tmp_path / "home"
    async with Run(home, clock) as first:
        first.engine.deploy(FLOW.format(recover="LAST"))
        await first.scheduler.tick()
    clock.set("2025-01-01T14:10:00+00:00")
    async with Run(home, clock) as second:
        await second.scheduler.tick()
        assert second.dates() == ["2025-01-01T14:00:00+00:00"]


async def test_a_date_fired_before_a_crash_and_fired_again_is_one_execution(run: Run, clock: Clock) -> None:
    await run.scheduler.tick()
    flow = run.engine.catalog.get("it.scheduler", "hourly")[0]
    trigger = flow.find_trigger("every_hour")
    assert trigger is not None
    eleven = datetime.fromisoformat("2025-01-01T11:00:00+00:00")
    # What a scheduler that crashed after creating the execution, before writing the state, left.
    first = await emit_execution(run.engine, flow, trigger, {"date": "2025-01-01T11:00:00+00:00"},
                                 key=firing_key(eleven), at=eleven)
    clock.set("2025-01-01T11:00:02+00:00")
    await run.scheduler.tick()
    assert list(run.created) == [first]


async def test_a_disabled_trigger_does_not_fire_and_enabled_again_recovers_its_dates(run: Run, clock: Clock) -> None:
    await run.scheduler.tick()
    await set_disabled(run.scheduler.store, UID, True)
    clock.set("2025-01-01T12:30:00+00:00")
    await run.scheduler.tick()
    assert run.created == {}
    record = run.scheduler.store.get(UID)
    assert record is not None and record.disabled
    await set_disabled(run.scheduler.store, UID, False)
    await run.scheduler.tick()
    assert run.dates() == ["2025-01-01T11:00:00+00:00", "2025-01-01T12:00:00+00:00"]


@pytest.mark.parametrize(("recover", "fired"), [("LAST", ["2025-01-01T13:00:00+00:00"]), ("NONE", [])])
async def test_a_trigger_enabled_again_recovers_the_dates_missed_while_disabled_by_its_policy(
        tmp_path: Path, clock: Clock, recover: str, fired: list[str]) -> None:
    async with Run(tmp_path / "home", clock) as r:
        r.engine.deploy(FLOW.format(recover=recover))
        await r.scheduler.tick()
        await set_disabled(r.scheduler.store, UID, True)
        clock.set("2025-01-01T13:30:00+00:00")
        await r.scheduler.tick()
        await set_disabled(r.scheduler.store, UID, False)
        await r.scheduler.tick()
        assert r.dates() == fired
        clock.set("2025-01-01T14:00:01+00:00")
        await r.scheduler.tick()
        assert r.dates() == [*fired, "2025-01-01T14:00:00+00:00"]


async def test_a_backfill_runs_its_dates_in_order_is_visible_and_ends(run: Run, clock: Clock) -> None:
    await run.scheduler.tick()
    await start_backfill(run.scheduler.store, UID, BackfillRequest(
        start=datetime.fromisoformat("2025-01-01T06:00:00+00:00"),
        end=datetime.fromisoformat("2025-01-01T08:00:00+00:00"), labels={"reason": "gap"}))
    await pause_backfill(run.scheduler.store, UID)
    await run.scheduler.tick()
    assert run.created == {}
    await pause_backfill(run.scheduler.store, UID, False)
    await run.scheduler.tick()
    assert run.dates() == ["2025-01-01T06:00:00+00:00", "2025-01-01T07:00:00+00:00", "2025-01-01T08:00:00+00:00"]
    assert all(s.execution.labels == {"reason": "gap", BACKFILL_LABEL: "true", "system.correlationId": s.execution.id}
               for s in run.created.values())
    record = run.scheduler.store.get(UID)
    assert record is not None and record.backfill is None


async def test_a_deleted_backfill_runs_no_more_dates(run: Run, clock: Clock) -> None:
    await run.scheduler.tick()
    await start_backfill(run.scheduler.store, UID, BackfillRequest(
        start=datetime.fromisoformat("2025-01-01T06:00:00+00:00")))
    record = await delete_backfill(run.scheduler.store, UID)
    await run.scheduler.tick()
    assert run.created == {} and record.backfill is None


async def test_stop_after_disables_the_trigger_once_an_execution_it_started_succeeds(
        tmp_path: Path, clock: Clock) -> None:
    async with Run(tmp_path / "home", clock) as r:
        r.engine.deploy(FLOW.format(recover="ALL").replace("    recoverMissedSchedules: ALL",
                                                           "    stopAfter: [SUCCESS]"))
        await r.scheduler.start()
        clock.set("2025-01-01T11:00:00+00:00")
        r.scheduler.forget()  # wakes the loop
        for _ in range(200):
            record = r.scheduler.store.get(UID)
            if record is not None and record.disabled:
                break
            await asyncio.sleep(0.02)
        assert record is not None and record.disabled
        assert [s.execution.state.current for s in r.created.values()] == [StateType.SUCCESS]
