"""Kestra's trigger.Toggle seen where it acts: the scheduler no longer fires a trigger it disabled.

``execute`` runs no scheduler, so a compat case cannot show it. Here the embedded engine runs the
toggling flows and the embedded scheduler, with a fake clock, fires (or not) the Schedule they toggle.
Kestra's ToggleTest has a flow re-enable its own trigger; Toggle's `enabled` defaults to false.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import EmbeddedScheduler
from tests._clock import Clock

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


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


async def _run(engine: EmbeddedEngine, flow_id: str) -> None:
    execution = await engine.wait(await engine.create_execution(NS, flow_id), timeout=60)
    assert execution.state.current == StateType.SUCCESS, execution


async def test_a_toggled_off_schedule_fires_no_date_until_toggled_on_again(engine: EmbeddedEngine) -> None:
    created: dict[str, ExecutionState] = {}
    engine.subscribe(lambda state: created.__setitem__(state.execution.id, state))
    engine.deploy(HOURLY)
    engine.deploy(SWITCH_ON)
    clock = Clock("2025-03-03T08:30:00+00:00")
    scheduler = EmbeddedScheduler(engine, now=clock, tick_seconds=3600)

    def fired() -> list[str]:
        return sorted(str(s.execution.trigger["variables"]["date"])[11:16] for s in created.values()
                      if s.execution.trigger is not None)

    try:
        await scheduler.tick()  # the trigger starts from now: its first date is 09:00
        clock.set("2025-03-03T09:10:00+00:00")
        await scheduler.tick()
        assert fired() == ["09:00"]

        await _run(engine, "hourly")  # disables its own trigger
        clock.set("2025-03-03T12:10:00+00:00")
        await scheduler.tick()
        assert fired() == ["09:00"], "a disabled trigger fired"

        await _run(engine, "switch_on")
        clock.set("2025-03-03T13:10:00+00:00")
        await scheduler.tick()
        assert "13:00" in fired()
        assert fired()[0] == "09:00"
    finally:
        await scheduler.stop()
