"""What started an execution: decided from the trigger's class when it fires, read back from the execution."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kestra_stream.flows import load_flow
from kestra_stream.models.execution import Execution, TriggeredBy, execution_trigger
from kestra_stream.models.state import State, StateType
from kestra_stream.triggers import trigger_kind

KAFKA = """
    properties: {bootstrap.servers: "localhost:9092"}
    topic: orders
    groupId: g"""
FLOW = f"""
id: every_trigger
namespace: unit.triggered
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: cron
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
  - id: old_cron
    type: io.kestra.core.models.triggers.types.Schedule
    cron: "0 * * * *"
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    dates: ["2026-03-01T08:00:00Z"]
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
  - id: upstream
    type: io.kestra.core.models.triggers.types.Flow
  - id: poll
    type: io.kestra.plugin.kafka.Trigger{KAFKA}
  - id: listen
    type: io.kestra.plugin.kafka.RealtimeTrigger{KAFKA}
"""


def test_each_trigger_kind_comes_from_the_class_whatever_name_the_flow_used() -> None:
    flow = load_flow(FLOW)
    assert {t.id: trigger_kind(t) for t in flow.triggers or ()} == {
        "cron": TriggeredBy.SCHEDULE, "old_cron": TriggeredBy.SCHEDULE, "dates": TriggeredBy.SCHEDULE,
        "hook": TriggeredBy.WEBHOOK, "upstream": TriggeredBy.FLOW, "poll": TriggeredBy.POLLING,
        "listen": TriggeredBy.REALTIME}


def started_by(trigger: dict[str, object] | None) -> Execution:
    return Execution(id="e", namespace="n", flow_id="f", trigger=trigger,
                     state=State.new(StateType.CREATED, datetime(2026, 3, 1, tzinfo=UTC)))


def test_an_execution_without_a_trigger_was_started_by_hand() -> None:
    assert started_by(None).triggered_by is TriggeredBy.MANUAL
    assert started_by(None).trigger_execution_id is None


def test_the_recorded_kind_wins_over_the_type_name() -> None:
    custom = execution_trigger("t", "com.example.MailTrigger", {"executionId": "up"}, TriggeredBy.REALTIME)
    assert started_by(custom).triggered_by is TriggeredBy.REALTIME
    assert started_by(custom).trigger_execution_id == "up"


@pytest.mark.parametrize(("type_", "kind"), [
    ("io.kestra.plugin.core.trigger.Schedule", TriggeredBy.SCHEDULE),
    ("io.kestra.core.models.triggers.types.Schedule", TriggeredBy.SCHEDULE),
    ("io.kestra.plugin.core.trigger.ScheduleOnDates", TriggeredBy.SCHEDULE),
    ("io.kestra.core.models.triggers.types.Webhook", TriggeredBy.WEBHOOK),
    ("io.kestra.plugin.core.trigger.Flow", TriggeredBy.FLOW),
    ("io.kestra.plugin.core.flow.Subflow", TriggeredBy.SUBFLOW),
    ("io.kestra.plugin.kafka.RealtimeTrigger", TriggeredBy.REALTIME),
    ("io.kestra.plugin.kafka.Trigger", TriggeredBy.POLLING),
])
def test_an_execution_of_an_older_version_is_classified_by_its_trigger_type(type_: str, kind: TriggeredBy) -> None:
    assert started_by({"id": "t", "type": type_, "variables": {}}).triggered_by is kind


def test_a_kind_that_is_not_one_is_read_as_if_none_was_recorded() -> None:
    trigger = {"id": "t", "type": "io.kestra.plugin.core.trigger.Webhook", "variables": {}, "kind": "CRON"}
    assert started_by(trigger).triggered_by is TriggeredBy.WEBHOOK
