"""The realtime-triggers component on the embedded engine, with a realtime trigger plugin of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from kestra_stream_plugin_core import plugins as core_plugins

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import RealtimeTrigger, TriggerContext
from kestra_stream.plugins import PluginRegistry
from kestra_stream.triggers._realtime import Backoff, RealtimeTriggers
from tests._waiting import until

UID = "realtime.test/listens/events"


class ListOfEvents(RealtimeTrigger):
    """Emits its ``events`` in order, then fails (``fail``) or listens on forever."""

    plugin: ClassVar[PluginInfo] = PluginInfo(type="test.realtime.ListOfEvents", short="test.ListOfEvents")

    events: list[str]
    fail: bool = False

    async def listen(self, ctx: TriggerContext) -> None:
        for event in self.events:
            await ctx.emit({"value": event}, key=event)
        if self.fail:
            raise RuntimeError("the source went away")
        await asyncio.Event().wait()


def flow_source(events: list[str], *, fail: bool = False, disabled: bool = False, flow_disabled: bool = False) -> str:
    listed = ", ".join(events)
    return (f"id: listens\nnamespace: realtime.test\ndisabled: {str(flow_disabled).lower()}\n"
            "tasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{ trigger.value }}\"\n"
            f"triggers:\n  - id: events\n    type: test.realtime.ListOfEvents\n    events: [{listed}]\n"
            f"    fail: {str(fail).lower()}\n    disabled: {str(disabled).lower()}\n")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    registry = PluginRegistry()
    registry.register_all(core_plugins())
    registry.register(ListOfEvents)
    async with EmbeddedEngine(tmp_path / "home", registry=registry) as started:
        yield started


class Seen:
    """Trigger values of the executions created, in order, each once."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.values: list[str] = []
        self._ids: set[str] = set()
        engine.subscribe(self._on_state)

    def _on_state(self, state: ExecutionState) -> None:
        execution = state.execution
        if execution.trigger is not None and execution.id not in self._ids:
            self._ids.add(execution.id)
            self.values.append(execution.trigger["variables"]["value"])

    async def until(self, count: int, within: float = 60.0) -> list[str]:
        await until(lambda: len(self.values) >= count, f"{count} executions", within)
        return self.values


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0.01)


def test_backoff_doubles_from_its_initial_delay_up_to_its_ceiling() -> None:
    backoff = Backoff(initial_seconds=0.5, max_seconds=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_each_event_of_a_realtime_trigger_starts_one_execution(engine: EmbeddedEngine) -> None:
    engine.deploy(flow_source(["a", "b", "c"]))
    seen = Seen(engine)
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.05) as triggers:
        assert await seen.until(3) == ["a", "b", "c"]
        assert triggers.running() == {UID: 1}
        assert triggers.starts(UID) == 1


async def test_a_failing_listener_is_restarted_with_backoff_and_its_events_start_no_second_execution(
        engine: EmbeddedEngine) -> None:
    engine.deploy(flow_source(["a", "b"], fail=True))
    seen = Seen(engine)
    sleep = RecordedSleep()
    backoff = Backoff(initial_seconds=1.0, max_seconds=4.0)
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, backoff=backoff, sleep=sleep) as triggers:
        await until(lambda: triggers.starts(UID) >= 5, "five starts of the listener")
    assert sleep.delays[:4] == [1.0, 2.0, 4.0, 4.0]
    # Every start emitted a and b again: the derived execution ids made them the same two executions.
    assert seen.values == ["a", "b"]


async def test_a_new_revision_replaces_the_listener_and_disabling_stops_it(engine: EmbeddedEngine) -> None:
    engine.deploy(flow_source(["a"]))
    seen = Seen(engine)
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.02) as triggers:
        await seen.until(1)
        engine.deploy(flow_source(["a", "b"]))
        assert await seen.until(2) == ["a", "b"]
        assert triggers.running() == {UID: 2}
        engine.deploy(flow_source(["a", "b"], disabled=True))
        await until(lambda: not triggers.running(), "no listener running")
        engine.deploy(flow_source(["c"]))
        await seen.until(3)
        engine.deploy(flow_source(["c"], flow_disabled=True))
        await until(lambda: not triggers.running(), "no listener running")
    assert seen.values == ["a", "b", "c"]


async def test_a_trigger_disabled_through_its_state_stops_listening_and_listens_again_when_enabled(
        engine: EmbeddedEngine) -> None:
    engine.deploy(flow_source(["a"]))
    disabled: set[str] = set()
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.02,
                                disabled=disabled.__contains__) as triggers:
        await until(lambda: triggers.running() == {UID: 1}, "the listener running")
        disabled.add(UID)
        await until(lambda: not triggers.running(), "no listener while disabled")
        disabled.clear()
        await until(lambda: triggers.running() == {UID: 1}, "the listener running again")
