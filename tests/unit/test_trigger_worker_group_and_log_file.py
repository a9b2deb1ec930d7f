"""workerGroup and logToFile on triggers: which triggers take a group, and the file a Schedule's firing leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import FlowValidationError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.flows import load_flow
from kestra_stream.scheduler import EmbeddedScheduler
from tests._clock import Clock

TASKS = "tasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def _with_trigger(trigger: str) -> str:
    return "id: f\nnamespace: n\n" + TASKS + "triggers:\n  - id: t\n" + trigger


def test_a_polling_trigger_takes_a_worker_group_and_says_which_processes_evaluate_it() -> None:
    flow = load_flow(_with_trigger("    type: io.kestra.plugin.core.http.Trigger\n    uri: http://localhost/x\n"
                                   "    workerGroup:\n      key: remote\n"))
    assert flow.triggers is not None and flow.triggers[0].group_key == "remote"


@pytest.mark.parametrize("trigger", [
    "    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '* * * * *'\n",
    "    type: io.kestra.plugin.core.trigger.Webhook\n    key: abc\n",
    "    type: io.kestra.plugin.core.trigger.Flow\n    conditions:\n"
    "      - type: io.kestra.plugin.core.condition.ExecutionFlow\n        namespace: n\n        flowId: g\n",
])
def test_a_worker_group_on_a_trigger_no_worker_evaluates_is_refused_saying_where_to_put_it(trigger: str) -> None:
    with pytest.raises(FlowValidationError, match="polling and realtime triggers") as refused:
        load_flow(_with_trigger(trigger + "    workerGroup:\n      key: remote\n"))
    assert "on the flow or on its tasks" in str(refused.value)


def test_a_trigger_fallback_other_than_wait_is_refused() -> None:
    with pytest.raises(FlowValidationError, match="fallback FAIL"):
        load_flow(_with_trigger("    type: io.kestra.plugin.core.http.Trigger\n    uri: http://localhost/x\n"
                                "    workerGroup:\n      key: remote\n      fallback: FAIL\n"))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


async def test_a_schedule_with_log_to_file_leaves_a_file_naming_the_execution_each_date_started(
        engine: EmbeddedEngine) -> None:
    created: dict[str, ExecutionState] = {}
    engine.subscribe(lambda state: created.__setitem__(state.execution.id, state))
    engine.deploy(_with_trigger("    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 * * * *'\n"
                                "    logToFile: true\n"))
    clock = Clock("2026-01-01T09:30:00+00:00")
    scheduler = EmbeddedScheduler(engine, now=clock, tick_seconds=3600)
    try:
        await scheduler.tick()
        clock.set("2026-01-01T11:30:00+00:00")
        await scheduler.tick()
    finally:
        await scheduler.stop()
    assert len(created) == 2
    for execution_id, state in created.items():
        trigger = state.execution.trigger
        assert trigger is not None
        text = (await engine.storage.get(trigger["logFile"])).decode()
        assert text.endswith(f"INFO  trigger 't' (io.kestra.plugin.core.trigger.Schedule) started execution "
                             f"{execution_id}\n")
        assert text.startswith(str(trigger["variables"]["date"])[:13])  # the line is dated with the schedule's date


def test_a_kafka_scheduler_of_a_worker_group_shares_that_group_s_triggers_in_a_consumer_group_of_its_own(
        tmp_path: Path) -> None:
    from kestra_stream.kafka import KafkaSettings
    from kestra_stream.scheduler import KafkaScheduler
    from kestra_stream.storage import LocalStorage

    class NoFlows:
        def all_latest(self) -> list[object]:
            return []

    settings = KafkaSettings(bootstrap_servers="localhost:1", topic_prefix="kt.")
    grouped = settings.model_copy(update={"worker_group_key": "remote"})
    storage = LocalStorage(tmp_path)
    plain = KafkaScheduler(None, NoFlows(), settings, storage=storage)  # type: ignore[arg-type]
    remote = KafkaScheduler(None, NoFlows(), grouped, storage=storage)  # type: ignore[arg-type]
    assert (plain.ownership.group_id, remote.ownership.group_id) == ("kt-scheduler", "kt-scheduler-remote")
    assert (settings.trigger_groups, grouped.trigger_groups) == (frozenset({None}), frozenset({"remote"}))
