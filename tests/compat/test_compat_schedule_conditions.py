"""Kestra's condition.PublicHoliday evaluated where Kestra evaluates it: on the dates of a Schedule trigger.

The compat cases start executions by hand, which no trigger condition sees. Here the embedded
scheduler fires a real Schedule, through its own evaluation of due dates and conditions, with a fake
clock: dates are fixed, so the calendars decide and the test never depends on today's date.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.scheduler import EmbeddedScheduler
from tests._clock import Clock

# Fire at 09:00 in Paris on public holidays only, and on every other day: Bastille Day (14 July
# 2024) is the only French public holiday from Friday 12 to Tuesday 16 July 2024.
FLOW = """
id: holidays
namespace: compat.conditions
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date }}"
triggers:
  - id: on_holidays
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
    timezone: Europe/Paris
    conditions:
      - type: io.kestra.plugin.core.condition.PublicHoliday
        country: FR
  - id: on_other_days
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
    timezone: Europe/Paris
    conditions:
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - type: io.kestra.plugin.core.condition.PublicHoliday
            country: "{{ flow.namespace == 'compat.conditions' ? 'FR' : 'US' }}"
"""

# Assumption (15 August) is a public holiday in Saarland, not in Berlin nor in all of Germany.
GERMAN_FLOW = """
id: assumption
namespace: compat.conditions
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date }}"
triggers:
""" + "".join(f"""\
  - id: {trigger_id}
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
    timezone: Europe/Berlin
    conditions:
      - type: io.kestra.plugin.core.condition.PublicHoliday
        country: DE{extra}
""" for trigger_id, extra in (("saarland", "\n        subDivision: SL"), ("berlin", "\n        subDivision: be"),
                              ("germany", "")))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


async def _fired(engine: EmbeddedEngine, flow: str, start: str, end: str) -> dict[str, list[str]]:
    """The dates (days) each trigger of ``flow`` fired for, the clock moved from ``start`` to ``end``."""
    created: dict[str, ExecutionState] = {}
    engine.subscribe(lambda state: created.__setitem__(state.execution.id, state))
    engine.deploy(flow)
    clock = Clock(start)
    scheduler = EmbeddedScheduler(engine, now=clock, tick_seconds=3600)
    try:
        await scheduler.tick()  # a new trigger starts from now: its first date is the next one
        clock.set(end)
        await scheduler.tick()
    finally:
        await scheduler.stop()
    fired: dict[str, list[str]] = {}
    for state in created.values():
        trigger = state.execution.trigger
        assert trigger is not None
        fired.setdefault(trigger["id"], []).append(str(trigger["variables"]["date"])[:10])
    return {trigger_id: sorted(days) for trigger_id, days in fired.items()}


async def test_a_schedule_with_public_holiday_fires_on_the_holidays_of_the_country_only(
        engine: EmbeddedEngine) -> None:
    # From 12 July, 08:00 in Paris, to 16 July, 10:00: the 09:00 dates of 12 to 16 July are due.
    fired = await _fired(engine, FLOW, "2024-07-12T06:00:00+00:00", "2024-07-16T08:00:00+00:00")
    assert fired == {"on_holidays": ["2024-07-14"],
                     "on_other_days": ["2024-07-12", "2024-07-13", "2024-07-15", "2024-07-16"]}


async def test_a_subdivision_has_the_holidays_of_its_own_calendar(engine: EmbeddedEngine) -> None:
    fired = await _fired(engine, GERMAN_FLOW, "2025-08-15T05:00:00+00:00", "2025-08-15T08:00:00+00:00")
    assert fired == {"saarland": ["2025-08-15"]}
