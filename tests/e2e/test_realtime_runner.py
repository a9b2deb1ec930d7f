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
from kestra_stream.models.task import LogLevel, RealtimeTrigger, TriggerContext
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
            ctx.log(LogLevel.INFO, f"read {event}")
            await ctx.emit({"value": event}, key=event)
        if self.fail:
            raise RuntimeError("the source went away")
        await asyncio.Event().wait()


def flow_source(events: list[str], *, fail: bool = False, disabled: bool = False, flow_disabled: bool = False,
                extra: str = "") -> str:
    listed = ", ".join(events)
    return (f"id: listens\nnamespace: realtime.test\ndisabled: {str(flow_disabled).lower()}\n"
            "tasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{ trigger.value }}\"\n"
            f"triggers:\n  - id: events\n    type: test.realtime.ListOfEvents\n    events: [{listed}]\n"
            f"    fail: {str(fail).lower()}\n    disabled: {str(disabled).lower()}\n{extra}")


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


async def test_a_realtime_trigger_of_a_worker_group_listens_only_where_that_group_is_served(
        engine: EmbeddedEngine) -> None:
    engine.deploy(flow_source(["a"], extra="    workerGroup:\n      key: remote\n"))
    seen = Seen(engine)
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.02) as ungrouped:
        await asyncio.sleep(0.2)
        assert ungrouped.running() == {}
    assert seen.values == []
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.02,
                                groups=frozenset({None, "remote"})) as remote:
        assert await seen.until(1) == ["a"]
        assert remote.running() == {UID: 1}


async def test_with_log_to_file_each_execution_names_the_file_of_the_lines_logged_before_its_event(
        engine: EmbeddedEngine) -> None:
    engine.deploy(flow_source(["a", "b"], extra="    logToFile: true\n"))
    started: dict[str, tuple[str, str]] = {}  # value: (execution id, trigger.logFile)

    def record(state: ExecutionState) -> None:
        trigger = state.execution.trigger
        if trigger is not None:
            started[trigger["variables"]["value"]] = (state.execution.id, trigger["logFile"])

    engine.subscribe(record)
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.05):
        await until(lambda: len(started) == 2, "two executions")
    texts = {value: (await engine.storage.get(uri)).decode() for value, (_, uri) in started.items()}
    assert "INFO  read a\n" in texts["a"] and "read b" not in texts["a"]
    assert "INFO  read b\n" in texts["b"] and "read a" not in texts["b"]
    assert texts["b"].splitlines()[-1].endswith(f"started execution {started['b'][0]}")
    assert started["b"][1].startswith("kestra:///realtime/test/listens/executions/" + started["b"][0])


@pytest.mark.parametrize("level", ["logLevel", "minLogLevel"])
async def test_a_trigger_log_level_drops_the_lines_below_it_from_the_log_file(
        engine: EmbeddedEngine, level: str) -> None:
    engine.deploy(flow_source(["a"], extra=f"    logToFile: true\n    {level}: WARN\n"))
    files: list[str] = []
    engine.subscribe(lambda state: files.append(state.execution.trigger["logFile"])
                     if state.execution.trigger is not None else None)
    async with RealtimeTriggers(engine, engine.catalog, engine.storage, refresh_seconds=0.05):
        await until(lambda: bool(files), "an execution")
    text = (await engine.storage.get(files[0])).decode()
    assert "read a" not in text and len(text.splitlines()) == 1  # only the line naming the execution
