"""Every core plugin loads from a raw mapping, by each of its names, and refuses bad properties clearly."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import kestra_stream_plugin_core as core
import pytest
from pydantic import ValidationError

from kestra_stream.errors import KestraStreamError
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.state import StateType
from kestra_stream.plugins import PluginKind, PluginRegistry
from kestra_stream.plugins.registry import kind_of

LOG = {"id": "hello", "type": "io.kestra.plugin.core.log.Log", "message": "hi"}

# One valid raw mapping per plugin, as a flow would write it.
RAW: dict[type[PluginModel], dict[str, Any]] = {
    core.Log: {"id": "l", "message": ["a", "b"], "level": "warning"},
    core.KVSet: {"id": "kvs", "key": "k", "value": "v", "ttl": "PT1H", "kvType": "STRING"},
    core.KVGet: {"id": "kvg", "key": "k", "errorOnMissing": True},
    core.KVDelete: {"id": "kvd", "key": "k"},
    core.KVGetKeys: {"id": "kvk", "prefix": "my_"},
    core.WorkingDirectory: {"id": "wd", "inputFiles": {"a.txt": "x"}, "outputFiles": ["*.txt"],
                            "namespaceFiles": {"include": ["/data/**"]},
                            "tasks": [{"id": "lf", "type": "storage.LocalFiles", "outputs": ["a.txt"]}]},
    core.LocalFiles: {"id": "lf", "inputs": {"a.txt": "x"}, "outputs": ["*.txt"]},
    core.StateGet: {"id": "sg", "name": "s", "errorOnMissing": True},
    core.StateSet: {"id": "ss", "name": "s", "data": {"k": "v"}, "namespace": True, "taskrunValue": False},
    core.StateDelete: {"id": "sd", "name": "s"},
    core.Size: {"id": "sz", "uri": "kestra:///a/b.txt"},
    core.Delete: {"id": "del", "uri": "kestra:///a/b.txt", "errorOnMissing": True},
    core.Concat: {"id": "cat", "files": ["kestra:///a/b.txt"], "separator": "\n", "extension": ".csv"},
    core.Reverse: {"id": "rev", "from": "kestra:///a/b.txt", "separator": ";", "charset": "UTF-8"},
    core.Split: {"id": "sp", "from": "kestra:///a/b.txt", "bytes": "10KB"},
    core.FilterItems: {"id": "fi", "from": "kestra:///a/b.ion", "filterCondition": "{{ value == null }}",
                       "filterType": "EXCLUDE", "errorOrNullBehavior": "INCLUDE"},
    core.DeduplicateItems: {"id": "dd", "from": "kestra:///a/b.ion", "expr": "{{ key }}"},
    core.Template: {"id": "tpl", "namespace": "company.team", "templateId": "shared", "args": {"a": "b"}},
    core.PurgeCurrentExecutionFiles: {"id": "purge"},
    core.UploadFiles: {"id": "up", "namespace": "n", "files": ["*.sql"], "filesMap": {"/a.txt": "kestra:///x/y"},
                       "destination": "/d", "conflict": "SKIP"},
    core.DownloadFiles: {"id": "down", "namespace": "n", "files": "**/*.sql", "destination": "d"},
    core.DeleteFiles: {"id": "del", "namespace": "n", "files": ["/a.txt"]},
    core.Toggle: {"id": "toggle", "namespace": "n", "flowId": "f", "trigger": "t", "enabled": True},
    core.Resume: {"id": "resume", "executionId": "E", "namespace": "n", "flowId": "f", "inputs": {"a": 1}},
    core.Fetch: {"id": "fetch", "executionId": "E", "namespace": "n", "flowId": "f", "tasksId": ["a"], "level": "WARN"},
    core.Count: {"id": "count", "flows": [{"namespace": "n", "flowId": "f"}], "namespaces": ["n"],
                 "states": ["SUCCESS"], "startDate": "{{ now() }}", "endDate": "{{ now() }}",
                 "expression": "{{ count == 0 }}"},
    core.PurgeExecutions: {"id": "purge", "namespace": "n", "flowId": "f", "startDate": "{{ now() }}",
                           "endDate": "{{ now() }}", "states": ["FAILED"], "purgeExecution": False,
                           "purgeLog": True, "purgeMetric": False, "purgeStorage": False},
    core.PurgeLogs: {"id": "purge_logs", "namespace": "n", "flowId": "f", "logLevels": ["DEBUG"],
                     "startDate": "{{ now() }}", "endDate": "{{ now() }}"},
    core.ForEachItem: {"id": "fei", "items": "{{ inputs.file }}", "batch": {"rows": "{{ inputs.batch }}"},
                       "namespace": "company.team", "flowId": "child", "inputs": {"items": "{{ taskrun.items }}"},
                       "wait": False, "transmitFailed": False, "inheritLabels": True, "labels": {"a": "b"}},
    core.ForEachItemSplit: {"id": "fei_split", "items": "{{ inputs.file }}", "batch": {"partitions": 2}},
    core.ForEachItemExecutable: {"id": "fei_items", "splitTaskId": "fei_split", "namespace": "company.team",
                                 "flowId": "child"},
    core.ForEachItemMergeOutputs: {"id": "fei_merge", "itemsTaskId": "fei_items"},
    core.WaitFor: {"id": "wf", "condition": "{{ true }}", "failOnMaxReached": True,
                   "checkFrequency": {"maxIterations": 3, "maxDuration": "PT1M", "interval": "PT1S"},
                   "tasks": [{"id": "l", "type": "log.Log", "message": "m"}]},
    core.Request: {"id": "req", "uri": "https://example.com", "method": "POST", "body": "{}",
                   "options": {"readTimeout": "PT5S"}},
    core.Download: {"id": "dl", "uri": "https://example.com/a.csv"},
    core.Echo: {"id": "e", "format": "x"},
    core.Return: {"id": "r", "format": "x"},
    core.OutputValues: {"id": "o", "values": {"a": 1}},
    core.Fail: {"id": "f", "errorMessage": "no"},
    core.Labels: {"id": "lb", "labels": {"team": "data"}},
    core.Sleep: {"id": "s", "duration": "PT1S"},
    core.Pause: {"id": "p", "pauseDuration": "PT1M", "behavior": "WARN"},
    core.Subflow: {
        "id": "sf",
        "namespace": "company.team",
        "flowId": "child",
        "restartBehavior": "NEW_EXECUTION",
    },
    core.Sequential: {"id": "sq", "tasks": [LOG]},
    core.Parallel: {"id": "pl", "tasks": [LOG], "concurrent": 2},
    core.AllowFailure: {"id": "af", "tasks": [LOG]},
    core.If: {"id": "if", "condition": "{{ x }}", "then": [LOG], "else": [{**LOG, "id": "other"}]},
    core.Switch: {"id": "sw", "value": "{{ x }}", "cases": {"A": [LOG]}, "defaults": [{**LOG, "id": "d"}]},
    core.ForEach: {"id": "fe", "values": ["a", "b"], "concurrencyLimit": 0, "tasks": [LOG]},
    core.EachSequential: {"id": "es", "value": '["a", "b"]', "tasks": [LOG]},
    core.EachParallel: {"id": "ep", "value": "{{ outputs.x.values }}", "tasks": [LOG]},
    core.Dag: {"id": "dag", "tasks": [{"task": LOG}, {"task": {**LOG, "id": "b"}, "dependsOn": ["hello"]}]},
    core.Schedule: {
        "id": "sch",
        "cron": "0 9 * * 1#1",
        "timezone": "Europe/Paris",
        "recoverMissedSchedules": "LAST",
        "lateMaximumDelay": "PT1H",
        "backfill": {"start": "2024-01-01T00:00:00Z"},
        "scheduleConditions": [{"type": "io.kestra.plugin.core.condition.Weekend"}],
    },
    core.ScheduleOnDates: {"id": "sod", "dates": ["2025-12-24T18:00:00+01:00"], "timezone": "UTC"},
    core.Flow: {
        "id": "ft",
        "states": ["FAILED"],
        "preconditions": {
            "id": "pre",
            "timeWindow": {"type": "DAILY_TIME_DEADLINE", "deadline": "09:00:00"},
            "flows": [{"namespace": "company.team", "flowId": "extract", "states": ["SUCCESS"]}],
            "where": [
                {"id": "w", "filters": [{"field": "NAMESPACE", "type": "STARTS_WITH", "value": "company"}]}
            ],
        },
    },
    core.Webhook: {"id": "wh", "key": "4wjtkzwVGBM9yKnjm3yv8r", "wait": True, "returnOutputs": True},
    core.HttpTrigger: {"id": "http", "uri": "https://example.com/", "responseCondition": "{{ response.code }}"},
    core.ExecutionStatus: {"in": ["SUCCESS"], "notIn": ["FAILED"]},
    core.HasRetryAttempt: {"in": ["FAILED"], "notIn": ["KILLED"]},
    core.ExecutionFlow: {"namespace": "company.team", "flowId": "extract"},
    core.ExecutionNamespace: {"namespace": "company", "comparison": "PREFIX"},
    core.ExecutionLabels: {"labels": [{"key": "team", "value": "data"}]},
    core.ExecutionOutputs: {"expression": "{{ trigger.outputs.ok }}"},
    core.Expression: {"expression": "{{ true }}"},
    core.DayWeek: {"dayOfWeek": "MONDAY"},
    core.DayWeekInMonth: {"dayOfWeek": "MONDAY", "dayInMonth": "LAST"},
    core.DateTimeBetween: {"after": "2025-01-01T00:00:00Z"},
    core.TimeBetween: {"after": "09:00:00+02:00", "before": "18:00:00+02:00"},
    core.Weekend: {},
    core.PublicHoliday: {"country": "FR", "subDivision": "{{ vars.region }}"},
    core.Not: {"conditions": [{"type": "io.kestra.plugin.core.condition.Weekend"}]},
    core.Or: {
        "conditions": [{"type": "condition.Weekend"}, {"type": "condition.DayWeek", "dayOfWeek": "FRIDAY"}]
    },
    core.MultipleCondition: {
        "id": "both",
        "window": "P1D",
        "conditions": {
            "a": {
                "type": "io.kestra.core.models.conditions.types.ExecutionFlowCondition",
                "namespace": "n",
                "flowId": "a",
            }
        },
    },
    core.Process: {},
}


def _info(cls: type[PluginModel]) -> Any:
    assert cls.plugin is not None
    return cls.plugin


def test_every_plugin_has_an_example_title_and_a_valid_raw_mapping() -> None:
    assert set(RAW) == set(core.plugins())
    for cls in core.plugins():
        info = _info(cls)
        assert info.examples and info.title and cls.__doc__, cls
        assert info.short == ".".join(info.type.split(".")[-2:])


@pytest.mark.parametrize("cls", [c for c in core.plugins() if c is not core.Template], ids=lambda c: c.__name__)
def test_plugin_loads_from_a_raw_mapping_under_each_of_its_names(cls: type[PluginModel]) -> None:
    for name in _info(cls).names:
        model = cls.model_validate({"type": name, **RAW[cls]})
        assert model.type == name


def test_kestras_deprecated_template_task_is_refused_while_templates_are_off_saying_how_and_what_to_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KESTRA_STREAM_TEMPLATES_ENABLED", raising=False)
    for name in _info(core.Template).names:
        with pytest.raises(ValidationError, match=r"templates are off.*KESTRA_STREAM_TEMPLATES_ENABLED=true.*"
                                                  r"io\.kestra\.plugin\.core\.flow\.Subflow"):
            core.Template.model_validate({"type": name, **RAW[core.Template]})


def test_template_task_loads_under_each_name_with_kestras_properties_once_templates_are_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_STREAM_TEMPLATES_ENABLED", "true")
    for name in _info(core.Template).names:
        model = core.Template.model_validate({"type": name, **RAW[core.Template]})
        assert (model.type, model.namespace, model.template_id, model.args) == (name, "company.team", "shared",
                                                                                {"a": "b"})
        assert model.included is None and model.branches() == {}


def test_registry_from_entry_points_finds_every_core_plugin_by_each_name() -> None:
    registry = PluginRegistry.from_entry_points()
    for cls in core.plugins():
        for name in _info(cls).names:
            assert registry.resolve(kind_of(cls), name) is cls, name
    assert len(registry.classes(PluginKind.TRIGGER)) >= 4


def test_older_kestra_names_are_aliases() -> None:
    assert "io.kestra.core.tasks.flows.Flow" in _info(core.Subflow).aliases
    assert "io.kestra.core.tasks.flows.Subflow" in _info(core.Subflow).aliases
    assert "io.kestra.core.tasks.debugs.Return" in _info(core.Return).aliases
    assert "io.kestra.core.models.triggers.types.Schedule" in _info(core.Schedule).aliases
    assert "io.kestra.core.models.conditions.types.VariableCondition" in _info(core.Expression).aliases
    assert (
        "io.kestra.core.models.conditions.types.ExecutionStatusCondition"
        in _info(core.ExecutionStatus).aliases
    )


def _error(cls: type[PluginModel], raw: dict[str, Any]) -> str:
    # An unknown nested type surfaces as the registry's PluginError; every other problem as pydantic's.
    with pytest.raises((ValidationError, KestraStreamError)) as info:
        cls.model_validate({"type": _info(cls).type, **raw})
    return str(info.value)


def test_log_without_message_names_the_missing_property() -> None:
    assert "message" in _error(core.Log, {"id": "l"})


def test_log_refuses_a_message_of_the_wrong_type() -> None:
    assert "message" in _error(core.Log, {"id": "l", "message": {"a": 1}})


def test_unknown_property_is_refused_with_its_camel_case_name() -> None:
    assert "concurrentLimit" in _error(
        core.ForEach, {"id": "f", "values": ["a"], "tasks": [LOG], "concurrentLimit": 2}
    )


def test_log_level_accepts_kestra_spellings() -> None:
    assert core.Log.model_validate({"type": "log.Log", **RAW[core.Log]}).level.value == "WARN"


def test_camel_case_properties_fill_snake_case_attributes() -> None:
    subflow = core.Subflow.model_validate(
        {"type": "flow.Subflow", **RAW[core.Subflow], "transmitFailed": False}
    )
    assert (subflow.flow_id, subflow.transmit_failed, subflow.restart_behavior) == (
        "child",
        False,
        "NEW_EXECUTION",
    )


def test_bad_cron_quotes_it_and_shows_a_valid_one() -> None:
    message = _error(core.Schedule, {"id": "s", "cron": "61 * * * *"})
    assert "'61 * * * *'" in message and "'*/15 * * * *'" in message


def test_six_field_cron_needs_with_seconds() -> None:
    assert "withSeconds" in _error(core.Schedule, {"id": "s", "cron": "0 */5 * * * *"})
    schedule = core.Schedule.model_validate(
        {"type": "trigger.Schedule", "id": "s", "cron": "0 */5 * * * *", "withSeconds": True}
    )
    assert schedule.with_seconds


@pytest.mark.parametrize(
    "cron", ["@daily", "@hourly", "@midnight", "0 11 * * 1#1", "*/5 * * * 0-4", "0 0 * * 7"]
)
def test_cron_nicknames_and_nth_weekday_are_accepted(cron: str) -> None:
    assert core.Schedule.model_validate({"type": "trigger.Schedule", "id": "s", "cron": cron}).cron == cron


def test_bad_timezone_is_refused_with_an_example() -> None:
    message = _error(core.Schedule, {"id": "s", "cron": "@daily", "timezone": "Mars/Olympus"})
    assert "'Mars/Olympus'" in message and "Europe/Paris" in message


def test_recover_missed_schedules_only_takes_kestra_values() -> None:
    assert "recoverMissedSchedules" in _error(
        core.Schedule, {"id": "s", "cron": "@daily", "recoverMissedSchedules": "SOME"}
    )


def test_schedule_lists_its_conditions_then_the_older_schedule_conditions() -> None:
    schedule = core.Schedule.model_validate(
        {
            "type": "trigger.Schedule",
            **RAW[core.Schedule],
            "conditions": [{"type": "condition.DayWeek", "dayOfWeek": "MONDAY"}],
        }
    )
    assert [type(c) for c in schedule.all_conditions()] == [core.DayWeek, core.Weekend]
    assert schedule.late_maximum_delay == timedelta(hours=1)


def test_flow_trigger_reacts_to_every_terminal_state_by_default() -> None:
    trigger = core.Flow.model_validate({"type": "trigger.Flow", "id": "t"})
    assert set(trigger.states) == {s for s in StateType if s.is_terminated}
    assert StateType.RUNNING not in trigger.states


def test_flow_trigger_refuses_created_state() -> None:
    assert "CREATED" in _error(core.Flow, {"id": "t", "states": ["CREATED"]})


def test_flow_trigger_preconditions_load_into_models() -> None:
    trigger = core.Flow.model_validate({"type": "trigger.Flow", **RAW[core.Flow]})
    assert trigger.preconditions is not None
    assert trigger.preconditions.time_window.deadline == time(9, 0)
    assert trigger.preconditions.flows is not None and trigger.preconditions.flows[0].flow_id == "extract"
    assert trigger.preconditions.where is not None
    assert trigger.preconditions.where[0].filters[0].type is core.FilterType.STARTS_WITH


def test_time_window_refuses_properties_of_another_type() -> None:
    message = _error(
        core.Flow,
        {
            "id": "t",
            "preconditions": {
                "id": "p",
                "timeWindow": {"type": "DAILY_TIME_DEADLINE", "deadline": "09:00:00", "window": "PT1H"},
            },
        },
    )
    assert "DAILY_TIME_DEADLINE cannot have window" in message


def test_daily_time_window_needs_start_and_end() -> None:
    message = _error(
        core.Flow,
        {
            "id": "t",
            "preconditions": {
                "id": "p",
                "timeWindow": {"type": "DAILY_TIME_WINDOW", "startTime": "06:00:00"},
            },
        },
    )
    assert "needs endTime" in message


def test_in_filter_needs_values() -> None:
    message = _error(
        core.Flow,
        {
            "id": "t",
            "preconditions": {
                "id": "p",
                "where": [{"id": "w", "filters": [{"field": "STATE", "type": "IN", "value": "SUCCESS"}]}],
            },
        },
    )
    assert "needs `values`" in message


def test_webhook_needs_a_key() -> None:
    assert "key" in _error(core.Webhook, {"id": "w"})


def test_webhook_refuses_a_multiple_condition() -> None:
    message = _error(
        core.Webhook,
        {
            "id": "w",
            "key": "k",
            "conditions": [{"type": "condition.MultipleCondition", **RAW[core.MultipleCondition]}],
        },
    )
    assert "MultipleCondition" in message


def test_execution_status_reads_in_and_not_in() -> None:
    cond = core.ExecutionStatus.model_validate(
        {"type": "condition.ExecutionStatus", **RAW[core.ExecutionStatus]}
    )
    assert cond.in_ == [StateType.SUCCESS] and cond.not_in == [StateType.FAILED]
    assert "in" in _error(core.ExecutionStatus, {"in": ["DONE"]})


def test_execution_namespace_older_prefix_means_prefix_comparison() -> None:
    cond = core.ExecutionNamespace.model_validate(
        {"type": "condition.ExecutionNamespace", "namespace": "company", "prefix": True}
    )
    assert cond.effective_comparison is core.NamespaceComparison.PREFIX
    plain = core.ExecutionNamespace.model_validate({"type": "condition.ExecutionNamespace", "namespace": "c"})
    assert plain.effective_comparison is core.NamespaceComparison.EQUALS


def test_date_conditions_default_to_the_trigger_date() -> None:
    cond = core.DayWeek.model_validate({"type": "condition.DayWeek", "dayOfWeek": "SUNDAY"})
    assert cond.date == "{{ trigger.date }}" and cond.day_of_week is core.DayOfWeek.SUNDAY
    assert "dayInMonth" in _error(core.DayWeekInMonth, {"dayOfWeek": "MONDAY", "dayInMonth": "FIFTH"})


def test_not_and_or_need_at_least_one_condition() -> None:
    assert "conditions" in _error(core.Not, {"conditions": []})
    assert "conditions" in _error(core.Or, {"conditions": []})


def test_nested_condition_of_unknown_type_suggests_the_right_name() -> None:
    assert "io.kestra.plugin.core.condition.Weekend" in _error(
        core.Not, {"conditions": [{"type": "Weekend"}]}
    )


def test_switch_needs_cases_or_defaults() -> None:
    assert "needs `cases`, `defaults` or both" in _error(core.Switch, {"id": "s", "value": "x"})


def test_switch_case_keys_written_as_yaml_scalars_become_text() -> None:
    switch = core.Switch.model_validate(
        {"type": "flow.Switch", "id": "s", "value": 1, "cases": {2: [LOG], True: [{**LOG, "id": "t"}]}}
    )
    assert switch.value == "1"
    assert switch.cases is not None and set(switch.cases) == {"2", "true"}


def test_if_condition_written_as_a_boolean_becomes_text() -> None:
    task = core.If.model_validate({"type": "flow.If", "id": "i", "condition": False, "then": [LOG]})
    assert task.condition == "false"


def test_if_needs_then() -> None:
    assert "then" in _error(core.If, {"id": "i", "condition": "x"})


def test_foreach_refuses_literal_text_that_is_not_a_json_array() -> None:
    assert "JSON array" in _error(core.ForEach, {"id": "f", "values": "a,b", "tasks": [LOG]})


def test_foreach_refuses_a_negative_concurrency_limit() -> None:
    assert "concurrencyLimit" in _error(
        core.ForEach, {"id": "f", "values": ["a"], "concurrencyLimit": -1, "tasks": [LOG]}
    )


def test_parallel_needs_at_least_one_task() -> None:
    assert "tasks" in _error(core.Parallel, {"id": "p", "tasks": []})


def test_dag_refuses_unknown_dependencies() -> None:
    message = _error(core.Dag, {"id": "d", "tasks": [{"task": LOG, "dependsOn": ["ghost"]}]})
    assert "depends on unknown task(s) 'ghost'" in message


def test_dag_refuses_a_cycle_and_shows_it() -> None:
    message = _error(
        core.Dag,
        {
            "id": "d",
            "tasks": [
                {"task": {**LOG, "id": "a"}, "dependsOn": ["b"]},
                {"task": {**LOG, "id": "b"}, "dependsOn": ["a"]},
            ],
        },
    )
    assert "cycle: a -> b -> a" in message


def test_dag_refuses_duplicate_ids() -> None:
    assert "duplicate task ids: hello" in _error(
        core.Dag, {"id": "d", "tasks": [{"task": LOG}, {"task": LOG}]}
    )


def test_nested_task_of_unknown_type_is_refused_with_a_suggestion() -> None:
    message = _error(
        core.Sequential, {"id": "s", "tasks": [{"id": "x", "type": "io.kestra.plugin.core.log.Logg"}]}
    )
    assert "io.kestra.plugin.core.log.Log" in message


def test_branches_name_every_child_list() -> None:
    switch = core.Switch.model_validate({"type": "flow.Switch", **RAW[core.Switch]})
    assert {k: [t.id for t in v] for k, v in switch.branches().items()} == {
        "cases.A": ["hello"],
        "defaults": ["d"],
    }
    if_task = core.If.model_validate({"type": "flow.If", **RAW[core.If], "finally": [{**LOG, "id": "fin"}]})
    assert [t.id for t in if_task.child_tasks()] == ["hello", "other", "fin"]
    dag = core.Dag.model_validate({"type": "flow.Dag", **RAW[core.Dag]})
    assert [t.id for t in dag.branches()["tasks"]] == ["hello", "b"]


def test_labels_accept_scalar_values_and_a_json_text() -> None:
    labels = core.Labels.model_validate(
        {"type": "execution.Labels", "id": "l", "labels": {"n": 3, "ok": True}}
    )
    assert labels.labels == {"n": "3", "ok": "true"}
    text = core.Labels.model_validate({"type": "execution.Labels", "id": "l", "labels": '{"a": "b"}'})
    assert text.labels == '{"a": "b"}'


def test_package_exports_exactly_its_public_names() -> None:
    assert all(hasattr(core, name) for name in core.__all__)
    assert len(set(core.__all__)) == len(core.__all__)
    assert {c.__name__ for c in core.plugins()} <= set(core.__all__)


def test_split_needs_exactly_one_way_of_splitting() -> None:
    for raw in ({"id": "sp", "from": "kestra:///a/b.txt"},
                {"id": "sp", "from": "kestra:///a/b.txt", "rows": 2, "partitions": 3}):
        with pytest.raises(ValidationError, match="exactly one of bytes, partitions or rows"):
            core.Split.model_validate({"type": "storage.Split", **raw})


def test_working_directory_cache_needs_its_patterns() -> None:
    with pytest.raises(ValidationError, match="patterns"):
        core.WorkingDirectory.model_validate({
            "type": "flow.WorkingDirectory", "id": "wd", "cache": {"ttl": "PT5M"},
            "tasks": [{"id": "l", "type": "log.Log", "message": "m"}]})
    wd = core.WorkingDirectory.model_validate({
        "type": "flow.WorkingDirectory", "id": "wd", "cache": {"patterns": ["*.txt"], "ttl": "PT5m"},
        "tasks": [{"id": "l", "type": "log.Log", "message": "m"}]})
    assert wd.cache is not None and wd.cache.ttl is not None and wd.cache.ttl.total_seconds() == 300


def test_working_directory_refuses_children_that_do_not_run_on_a_worker() -> None:
    with pytest.raises(ValidationError, match="Only runnable tasks are allowed as children of a WorkingDirectory"):
        core.WorkingDirectory.model_validate({
            "type": "flow.WorkingDirectory", "id": "wd",
            "tasks": [{"id": "p", "type": "flow.Pause", "delay": "PT1S"}]})
