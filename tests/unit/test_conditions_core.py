"""Core conditions' ``test``: Kestra's semantics, pure (dates from the context or the variables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import kestra_stream_plugin_core as core
import pytest

from kestra_stream.errors import ExpressionError, PluginError
from kestra_stream.flows import load_flow
from kestra_stream.models.execution import Attempt, Execution, TaskRun
from kestra_stream.models.state import State, StateType
from kestra_stream.models.task import Condition, ConditionContext

FLOW = load_flow("""
id: downstream
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
""")
# 2025-03-03 is a Monday.
MONDAY = datetime(2025, 3, 3, 10, 30, tzinfo=UTC)


def condition(raw: dict[str, Any]) -> Condition:
    cls = {name: getattr(core, name) for name in dir(core)}[raw["type"].rsplit(".", 1)[-1]]
    model = cls.model_validate({**raw, "type": f"io.kestra.plugin.core.condition.{raw['type']}"})
    assert isinstance(model, Condition)
    return model


def upstream(state: StateType = StateType.SUCCESS, *, namespace: str = "company.team", flow_id: str = "extract",
             labels: dict[str, str] | None = None, outputs: dict[str, Any] | None = None) -> Execution:
    return Execution(id="up1", namespace=namespace, flow_id=flow_id, state=State.new(state, MONDAY),
                     labels=labels or {}, outputs=outputs)


def at_date(date: datetime | None = None, variables: dict[str, Any] | None = None,
            execution: Execution | None = None) -> ConditionContext:
    return ConditionContext(flow=FLOW, variables=variables or {}, date=date, execution=execution)


# ----- dates -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("day", "expected"), [("MONDAY", True), ("TUESDAY", False), ("SUNDAY", False)])
def test_day_week_compares_the_weekday_of_the_context_date(day: str, expected: bool) -> None:
    assert condition({"type": "DayWeek", "dayOfWeek": day}).test(at_date(MONDAY)) is expected


def test_day_week_reads_trigger_date_from_the_variables_before_the_context_date() -> None:
    ctx = at_date(MONDAY, {"trigger": {"date": "2025-03-08T09:00:00+01:00"}})  # a Saturday
    assert condition({"type": "DayWeek", "dayOfWeek": "SATURDAY"}).test(ctx)


def test_day_week_uses_the_calendar_day_in_the_dates_own_offset() -> None:
    # Sunday 23:30 in UTC-5 is Monday in UTC: Kestra reads the local date, a Sunday.
    late_sunday = datetime(2025, 3, 2, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert condition({"type": "DayWeek", "dayOfWeek": "SUNDAY"}).test(at_date(late_sunday))


def test_day_week_renders_an_explicit_date_property() -> None:
    cond = condition({"type": "DayWeek", "dayOfWeek": "FRIDAY", "date": "{{ vars.when }}"})
    assert cond.test(at_date(None, {"vars": {"when": "2025-03-07"}}))


def test_a_date_condition_without_any_date_cannot_be_evaluated() -> None:
    with pytest.raises(PluginError, match="rendered empty"):
        condition({"type": "Weekend"}).test(at_date(None, {"trigger": {"date": ""}}))
    with pytest.raises(ExpressionError):
        condition({"type": "Weekend"}).test(at_date(None))


def test_a_date_that_does_not_parse_is_an_error_naming_the_fix() -> None:
    with pytest.raises(PluginError, match="ISO-8601"):
        condition({"type": "Weekend"}).test(at_date(None, {"trigger": {"date": "next monday"}}))


def test_dates_with_a_bracketed_zone_id_are_read_in_that_zone() -> None:
    ctx = at_date(None, {"trigger": {"date": "2025-03-08T01:00:00+01:00[Europe/Paris]"}})
    assert condition({"type": "Weekend"}).test(ctx)


@pytest.mark.parametrize(("date", "expected"), [(MONDAY, False), (MONDAY + timedelta(days=5), True),
                                                (MONDAY + timedelta(days=6), True)])
def test_weekend_holds_on_saturday_and_sunday(date: datetime, expected: bool) -> None:
    assert condition({"type": "Weekend"}).test(at_date(date)) is expected


@pytest.mark.parametrize(("date", "in_month", "expected"), [
    (datetime(2025, 3, 3, tzinfo=UTC), "FIRST", True),
    (datetime(2025, 3, 10, tzinfo=UTC), "FIRST", False),
    (datetime(2025, 3, 10, tzinfo=UTC), "SECOND", True),
    (datetime(2025, 3, 17, tzinfo=UTC), "THIRD", True),
    (datetime(2025, 3, 24, tzinfo=UTC), "FOURTH", True),
    (datetime(2025, 3, 31, tzinfo=UTC), "LAST", True),
    (datetime(2025, 3, 24, tzinfo=UTC), "LAST", False),
    (datetime(2025, 3, 4, tzinfo=UTC), "FIRST", False),  # the first Tuesday, not a Monday
])
def test_day_week_in_month_finds_the_nth_and_last_weekday(date: datetime, in_month: str, expected: bool) -> None:
    cond = condition({"type": "DayWeekInMonth", "dayOfWeek": "MONDAY", "dayInMonth": in_month})
    assert cond.test(at_date(date)) is expected


def test_date_time_between_is_exclusive_at_both_ends() -> None:
    cond = condition({"type": "DateTimeBetween", "after": "2025-03-01T00:00:00Z", "before": "2025-03-03T10:30:00Z"})
    assert cond.test(at_date(MONDAY - timedelta(seconds=1)))
    assert not cond.test(at_date(MONDAY))
    assert not cond.test(at_date(datetime(2025, 3, 1, tzinfo=UTC)))


def test_date_time_between_with_one_bound_compares_instants_across_offsets() -> None:
    after = condition({"type": "DateTimeBetween", "after": "2025-03-03T11:00:00+02:00"})  # 09:00 UTC
    assert after.test(at_date(MONDAY))
    before = condition({"type": "DateTimeBetween", "before": "2025-03-03T11:00:00+02:00"})
    assert not before.test(at_date(MONDAY))


def test_date_time_between_without_bounds_cannot_be_evaluated() -> None:
    with pytest.raises(PluginError, match="needs `after`, `before`"):
        condition({"type": "DateTimeBetween"}).test(at_date(MONDAY))


def test_time_between_compares_times_of_day_with_their_offsets() -> None:
    cond = condition({"type": "TimeBetween", "after": "09:00:00Z", "before": "11:00:00Z"})
    assert cond.test(at_date(MONDAY))
    assert not cond.test(at_date(MONDAY + timedelta(hours=1)))
    paris = condition({"type": "TimeBetween", "after": "11:00:00+02:00"})  # 09:00 UTC
    assert paris.test(at_date(MONDAY))


def test_time_between_reads_a_bound_without_offset_on_the_dates_wall_clock() -> None:
    cond = condition({"type": "TimeBetween", "after": "12:00:00"})
    noon_in_paris = datetime(2025, 3, 3, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    assert cond.test(at_date(noon_in_paris))
    assert not cond.test(at_date(MONDAY))


# ----- upstream executions ----------------------------------------------------------------------------
def test_execution_status_in_and_not_in() -> None:
    cond = condition({"type": "ExecutionStatus", "in": ["SUCCESS", "WARNING"]})
    assert cond.test(at_date(execution=upstream(StateType.WARNING)))
    assert not cond.test(at_date(execution=upstream(StateType.FAILED)))
    not_in = condition({"type": "ExecutionStatus", "notIn": ["FAILED"]})
    assert not_in.test(at_date(execution=upstream(StateType.SUCCESS)))
    assert not not_in.test(at_date(execution=upstream(StateType.FAILED)))
    both = condition({"type": "ExecutionStatus", "in": ["FAILED"], "notIn": ["FAILED"]})
    assert not both.test(at_date(execution=upstream(StateType.FAILED)))


def test_execution_conditions_need_an_upstream_execution() -> None:
    for raw in ({"type": "ExecutionStatus", "in": ["SUCCESS"]},
                {"type": "ExecutionFlow", "namespace": "a", "flowId": "b"},
                {"type": "ExecutionNamespace", "namespace": "a"},
                {"type": "ExecutionLabels", "labels": {"a": "b"}},
                {"type": "ExecutionOutputs", "expression": "true"}):
        with pytest.raises(PluginError, match="Flow trigger"):
            condition(raw).test(at_date(MONDAY))


def test_execution_flow_matches_namespace_and_flow_id() -> None:
    cond = condition({"type": "ExecutionFlow", "namespace": "company.team", "flowId": "extract"})
    assert cond.test(at_date(execution=upstream()))
    assert not cond.test(at_date(execution=upstream(flow_id="load")))
    assert not cond.test(at_date(execution=upstream(namespace="company")))


@pytest.mark.parametrize(("raw", "namespace", "expected"), [
    ({"namespace": "company.team"}, "company.team", True),
    ({"namespace": "company"}, "company.team", False),
    ({"namespace": "company", "comparison": "PREFIX"}, "company.team", True),
    ({"namespace": "company", "prefix": True}, "company.team", True),
    ({"namespace": "team", "comparison": "SUFFIX"}, "company.team", True),
    ({"namespace": "team", "comparison": "SUFFIX"}, "company.teams", False),
])
def test_execution_namespace_comparisons(raw: dict[str, Any], namespace: str, expected: bool) -> None:
    cond = condition({"type": "ExecutionNamespace", **raw})
    assert cond.test(at_date(execution=upstream(namespace=namespace))) is expected


def test_execution_labels_needs_every_label_with_its_value() -> None:
    as_map = condition({"type": "ExecutionLabels", "labels": {"team": "data", "env": "prod"}})
    as_list = condition({"type": "ExecutionLabels", "labels": [{"key": "team", "value": "data"}]})
    labelled = upstream(labels={"team": "data", "env": "prod", "other": "x"})
    assert as_map.test(at_date(execution=labelled))
    assert as_list.test(at_date(execution=labelled))
    assert not as_map.test(at_date(execution=upstream(labels={"team": "data", "env": "dev"})))
    assert not as_list.test(at_date(execution=upstream()))


def test_execution_outputs_renders_over_trigger_outputs() -> None:
    cond = condition({"type": "ExecutionOutputs", "expression": "{{ trigger.outputs.status == 'ok' }}"})
    assert cond.test(at_date(execution=upstream(outputs={"status": "ok"})))
    assert not cond.test(at_date(execution=upstream(outputs={"status": "ko"})))


def test_execution_outputs_does_not_hold_without_outputs() -> None:
    cond = condition({"type": "ExecutionOutputs", "expression": "true"})
    assert not cond.test(at_date(execution=upstream(outputs=None)))
    assert not cond.test(at_date(execution=upstream(outputs={})))


@pytest.mark.parametrize(("expression", "expected"), [
    ("{{ trigger.x == 1 }}", True), ("{{ trigger.x == 2 }}", False), ("  ", False), ("false", False),
    ("{{ 'yes' }}", True), ("0", True),  # Kestra: only blank and "false" are false
])
def test_expression_holds_unless_blank_or_false(expression: str, expected: bool) -> None:
    cond = condition({"type": "Expression", "expression": expression})
    assert cond.test(at_date(MONDAY, {"trigger": {"x": 1}})) is expected


def test_expression_now_is_the_context_date_never_the_clock() -> None:
    cond = condition({"type": "Expression", "expression": "{{ now() | date('yyyy-MM-dd') == '2025-03-03' }}"})
    assert cond.test(at_date(MONDAY))
    with pytest.raises(ExpressionError, match="clock"):
        cond.test(at_date(None))


# ----- combinations ----------------------------------------------------------------------------------
def test_not_holds_when_none_of_its_conditions_does() -> None:
    cond = condition({"type": "Not", "conditions": [{"type": "io.kestra.plugin.core.condition.Weekend"}]})
    assert cond.test(at_date(MONDAY))
    assert not cond.test(at_date(MONDAY + timedelta(days=5)))


def test_or_holds_when_any_of_its_conditions_does() -> None:
    cond = condition({"type": "Or", "conditions": [
        {"type": "condition.DayWeek", "dayOfWeek": "FRIDAY"},
        {"type": "io.kestra.core.models.conditions.types.DayWeekCondition", "dayOfWeek": "MONDAY"}]})
    assert cond.test(at_date(MONDAY))
    assert not cond.test(at_date(MONDAY + timedelta(days=1)))


def test_multiple_condition_is_not_evaluated_on_its_own() -> None:
    cond = condition({"type": "MultipleCondition", "id": "both", "conditions": {
        "a": {"type": "condition.ExecutionFlow", "namespace": "n", "flowId": "a"}}})
    with pytest.raises(PluginError, match="preconditions"):
        cond.test(at_date(MONDAY))


def test_has_retry_attempt_looks_only_at_task_runs_that_were_retried() -> None:
    def run(task_id: str, *states: StateType) -> TaskRun:
        return TaskRun(id=task_id, execution_id="up1", namespace="company.team", flow_id="extract", task_id=task_id,
                       state=State.new(states[-1], MONDAY),
                       attempts=tuple(Attempt(state=State.new(s, MONDAY)) for s in states))

    once_failed = upstream(StateType.FAILED).model_copy(update={"task_run_list": (run("a", StateType.FAILED),)})
    retried = upstream().model_copy(update={"task_run_list": (run("b", StateType.FAILED, StateType.SUCCESS),)})
    assert not condition({"type": "HasRetryAttempt"}).test(at_date(execution=once_failed))
    assert condition({"type": "HasRetryAttempt"}).test(at_date(execution=retried))
    assert condition({"type": "HasRetryAttempt", "in": ["FAILED"]}).test(at_date(execution=retried))
    assert not condition({"type": "HasRetryAttempt", "in": ["KILLED"]}).test(at_date(execution=retried))
    assert not condition({"type": "HasRetryAttempt", "notIn": ["FAILED", "SUCCESS"]}).test(
        at_date(execution=retried))
    with pytest.raises(PluginError, match="Flow trigger"):
        condition({"type": "HasRetryAttempt"}).test(at_date(MONDAY))


# ----- public holidays ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ({"date": "2023-07-14", "country": "FR"}, True),  # Bastille Day
    ({"date": "2023-01-02", "country": "FR"}, False),
    ({"date": "2023-03-08", "country": "DE", "subDivision": "BE"}, True),  # Women's Day, in Berlin only
    ({"date": "2023-03-08", "country": "DE"}, False),
    ({"date": "{{ trigger.date }}", "country": "{{ vars.country }}"}, True),
])
def test_public_holiday_reads_the_country_and_subdivision_calendars(raw: dict[str, Any], expected: bool) -> None:
    ctx = at_date(None, {"trigger": {"date": "2023-12-25T08:00:00+01:00"}, "vars": {"country": "fr"}})
    assert condition({"type": "PublicHoliday", **raw}).test(ctx) is expected


def test_public_holiday_defaults_to_the_trigger_date_and_the_locales_country(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    holiday = condition({"type": "PublicHoliday"})
    assert holiday.test(at_date(datetime(2023, 7, 4, 12, tzinfo=UTC)))
    assert not holiday.test(at_date(datetime(2023, 7, 14, 12, tzinfo=UTC)))
    monkeypatch.setenv("LANG", "C.UTF-8")
    with pytest.raises(PluginError, match="set `country`"):
        holiday.test(at_date(MONDAY))


def test_public_holiday_of_an_unknown_country_or_subdivision_names_the_fix() -> None:
    with pytest.raises(PluginError, match=r"no public holiday calendar for country 'XX'.*ISO 3166-1"):
        condition({"type": "PublicHoliday", "country": "XX"}).test(at_date(MONDAY))
    with pytest.raises(PluginError, match="subdivision 'ZZ'"):
        condition({"type": "PublicHoliday", "country": "DE", "subDivision": "ZZ"}).test(at_date(MONDAY))
