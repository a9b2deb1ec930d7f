"""``kestra-stream plugins list`` and ``plugins schema`` show the core plugins sensibly."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kestra_stream.cli.plugins import plugins


def test_plugins_list_shows_core_types_with_short_names_and_aliases() -> None:
    result = CliRunner().invoke(plugins, ["list"])
    assert result.exit_code == 0, result.output
    assert "  io.kestra.plugin.core.log.Log  [log.Log]  (also io.kestra.core.tasks.log.Log)" in result.output
    assert "io.kestra.plugin.core.trigger.Schedule  [trigger.Schedule]" in result.output
    assert "io.kestra.plugin.core.runner.Process  [runner.Process]" in result.output
    for heading in ("tasks:", "triggers:", "conditions:", "task_runners:"):
        assert heading in result.output


def test_plugins_list_filters_by_kind() -> None:
    result = CliRunner().invoke(plugins, ["list", "--kind", "condition"])
    assert result.exit_code == 0, result.output
    assert "io.kestra.plugin.core.condition.Weekend" in result.output
    assert "io.kestra.plugin.core.log.Log" not in result.output


def test_plugins_schema_of_log_is_camel_case_json_schema() -> None:
    result = CliRunner().invoke(plugins, ["schema", "io.kestra.plugin.core.log.Log"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["title"] == "io.kestra.plugin.core.log.Log"
    assert schema["x-kestra-short-name"] == "log.Log"
    assert schema["x-kestra-aliases"] == ["io.kestra.core.tasks.log.Log"]
    assert {"message", "level", "allowFailure", "runIf"} <= set(schema["properties"])
    assert "message" in schema["required"]


def test_plugins_schema_of_a_flowable_names_else_and_finally_as_flows_write_them() -> None:
    result = CliRunner().invoke(plugins, ["schema", "flow.If"])
    assert result.exit_code == 0, result.output
    properties = json.loads(result.output)["properties"]
    assert {"condition", "then", "else", "errors", "finally"} <= set(properties)
    assert "else_" not in properties


def test_plugins_schema_of_every_trigger_and_condition_renders() -> None:
    for name in (
        "trigger.Schedule",
        "trigger.Flow",
        "trigger.Webhook",
        "condition.MultipleCondition",
        "condition.ExecutionStatus",
        "flow.Dag",
        "flow.Switch",
    ):
        result = CliRunner().invoke(plugins, ["schema", name])
        assert result.exit_code == 0, (name, result.output)
        assert json.loads(result.output)["x-kestra-short-name"] == name


def test_plugins_schema_of_an_unknown_type_suggests_the_right_one() -> None:
    result = CliRunner().invoke(plugins, ["schema", "io.kestra.plugin.core.log.Logg"])
    assert result.exit_code != 0
    assert "io.kestra.plugin.core.log.Log" in result.output
