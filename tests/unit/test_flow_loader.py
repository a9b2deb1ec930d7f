"""The loader: every problem at once, at its line; plugin defaults; aliases; files and directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_stream.errors import FlowProblem, FlowValidationError
from kestra_stream.flows import PluginDefault, load_flow, load_flow_file, load_flows, parse_source
from kestra_stream.plugins import PluginKind, default_registry

HEAD = "id: f\nnamespace: company.team\n"


def _log_level(text: str, *, global_defaults: tuple[PluginDefault, ...] = ()) -> object:
    flow = load_flow(text, global_defaults=global_defaults)
    task = flow.tasks[0]
    return getattr(task, "level", None)


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = HEAD + """tasks:
  - id: a
    type: io.kestra.plugin.core.log.Lg
    message: one
  - id: b
    type: io.kestra.plugin.core.log.Log
  - id: c
    type: io.kestra.plugin.core.log.Log
    message: three
    timeout: 10M
"""
    with pytest.raises(FlowValidationError) as caught:
        load_flow(text, file="f.yaml")
    lines = [(p.line, p.message.split(";")[0]) for p in caught.value.problems]
    assert lines == [
        (5, "unknown task type 'io.kestra.plugin.core.log.Lg'"),
        (7, "missing required property 'message' of 'b' (io.kestra.plugin.core.log.Log)"),
        (12, "invalid duration '10M': expected an ISO-8601 duration such as PT10M, PT30S or P1D"),
    ]
    assert caught.value.flow_id == "f" and caught.value.namespace == "company.team"


def test_unknown_property_points_at_its_key_and_suggests_the_close_name() -> None:
    text = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    mesage: hi\n"
    with pytest.raises(FlowValidationError) as caught:
        load_flow(text)
    missing, unknown = caught.value.problems
    assert missing.message.startswith("missing required property 'message'")
    problem = unknown
    assert (problem.line, problem.column, problem.path) == (6, 5, "tasks[0].mesage")
    assert "did you mean 'message'?" in problem.message


def test_problem_renders_as_file_line_column_message_and_path() -> None:
    text = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
    with pytest.raises(FlowValidationError) as caught:
        load_flow(text, file="flows/f.yaml")
    assert str(caught.value.problems[0]) == (
        "flows/f.yaml:4:5: missing required property 'message' of 'a' (io.kestra.plugin.core.log.Log); "
        "add it (at tasks[0].message)")


def test_a_yaml_syntax_error_is_a_problem_with_its_line() -> None:
    with pytest.raises(FlowValidationError) as caught:
        load_flow(HEAD + "tasks:\n  - id: a\n   type: x: y\n")
    [problem] = caught.value.problems
    assert problem.message.startswith("invalid YAML")
    assert problem.line == 5


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_is_refused(text: str) -> None:
    with pytest.raises(FlowValidationError, match="a flow must be a YAML mapping"):
        load_flow(text)


def test_old_type_names_load_as_the_current_plugin() -> None:
    flow = load_flow(HEAD + "tasks:\n  - id: a\n    type: io.kestra.core.tasks.log.Log\n    message: hi\n")
    log_cls = default_registry().resolve(PluginKind.TASK, "io.kestra.plugin.core.log.Log")
    task = flow.tasks[0]
    assert log_cls is not None and type(task) is log_cls
    assert task.type == "io.kestra.core.tasks.log.Log"


LOG_TASK = "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def _defaults(type_name: str, values: str, key: str = "pluginDefaults") -> str:
    return f"{key}:\n  - type: {type_name}\n    values:\n      {values}\n"


def test_plugin_default_for_the_exact_type_fills_a_missing_property() -> None:
    text = HEAD + LOG_TASK + _defaults("io.kestra.plugin.core.log.Log", "level: ERROR")
    assert str(_log_level(text)).endswith("ERROR")


def test_plugin_default_for_a_type_prefix_applies_to_every_type_below_it() -> None:
    text = HEAD + LOG_TASK + _defaults("io.kestra.plugin.core", "level: DEBUG")
    assert str(_log_level(text)).endswith("DEBUG")


def test_plugin_default_never_overrides_what_the_flow_says_unless_forced() -> None:
    written = HEAD + LOG_TASK.replace("message: hi", "message: hi\n    level: WARN")
    soft = written + _defaults("io.kestra.plugin.core.log.Log", "level: ERROR")
    forced = soft.replace("values:", "forced: true\n    values:")
    assert str(_log_level(soft)).endswith("WARN")
    assert str(_log_level(forced)).endswith("ERROR")


def test_flow_plugin_defaults_win_over_global_ones() -> None:
    global_default = (PluginDefault(type="io.kestra.plugin.core.log.Log", values={"level": "TRACE"}),)
    assert str(_log_level(HEAD + LOG_TASK, global_defaults=global_default)).endswith("TRACE")
    text = HEAD + LOG_TASK + _defaults("io.kestra.plugin.core.log.Log", "level: ERROR")
    assert str(_log_level(text, global_defaults=global_default)).endswith("ERROR")


def test_plugin_defaults_under_their_old_name_apply_too() -> None:
    text = HEAD + LOG_TASK + _defaults("io.kestra.plugin.core.log.Log", "level: ERROR", "taskDefaults")
    flow = load_flow(text)
    assert str(getattr(flow.tasks[0], "level", None)).endswith("ERROR")
    assert flow.plugin_defaults is not None and flow.plugin_defaults[0].values == {"level": "ERROR"}


def test_plugin_defaults_fill_a_required_property() -> None:
    text = (HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
            + _defaults("io.kestra.plugin.core.log.Log", "message: from defaults"))
    assert getattr(load_flow(text).tasks[0], "message", None) == "from defaults"


def test_positions_point_at_keys_values_and_list_items() -> None:
    source = parse_source("a:\n  b: [1, 2]\n  c:\n    - x: 1\n      y: 2\n")
    assert not isinstance(source, FlowProblem)
    assert source.position(("a", "b")) == (2, 6)
    assert source.position(("a", "b"), key=True) == (2, 3)
    assert source.position(("a", "c", 0, "y")) == (5, 10)
    assert source.position(("a", "c", 0, "missing")) == (4, 7)


def test_timestamps_stay_text() -> None:
    source = parse_source("d: 2024-01-01\nt: 2024-01-01T10:00:00Z\n")
    assert not isinstance(source, FlowProblem)
    assert source.data == {"d": "2024-01-01", "t": "2024-01-01T10:00:00Z"}


def test_mapping_keys_are_read_as_text() -> None:
    source = parse_source("cases:\n  2: [a]\n  true: [b]\n")
    assert not isinstance(source, FlowProblem)
    assert source.data == {"cases": {"2": ["a"], "true": ["b"]}}


def test_load_flows_reads_directories_recursively(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.yml").write_text(HEAD.replace("f", "one", 1) + LOG_TASK)
    (tmp_path / "two.yaml").write_text(HEAD.replace("f", "two", 1) + LOG_TASK)
    (tmp_path / "notes.txt").write_text("not a flow")
    assert sorted(f.id for f in load_flows([tmp_path])) == ["one", "two"]


def test_load_flows_collects_the_problems_of_every_bad_file(tmp_path: Path) -> None:
    (tmp_path / "bad1.yaml").write_text(HEAD + "tasks: []\n")
    (tmp_path / "bad2.yaml").write_text("id: x\n")
    with pytest.raises(FlowValidationError) as caught:
        load_flows([tmp_path])
    assert {Path(p.file or "").name for p in caught.value.problems} == {"bad1.yaml", "bad2.yaml"}


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FlowValidationError, match="no such file or directory"):
        load_flows([tmp_path / "nope.yaml"])
    with pytest.raises(FlowValidationError, match="cannot read the flow file"):
        load_flow_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize("call", [
    "    type: io.kestra.plugin.core.flow.Subflow\n",
    "    type: io.kestra.plugin.core.flow.ForEachItem\n    items: '{{ inputs.file }}'\n",
])
def test_a_flow_that_calls_itself_is_refused_at_the_calling_task(call: str) -> None:
    text = HEAD + "tasks:\n  - id: again\n" + call + "    namespace: company.team\n    flowId: f\n"
    with pytest.raises(FlowValidationError) as caught:
        load_flow(text)
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (4, "tasks[0]")
    assert "calls this flow (company.team.f) from itself" in problem.message


def test_a_subflow_of_the_same_id_in_another_namespace_is_not_recursive() -> None:
    text = HEAD + """tasks:
  - id: other
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.other
    flowId: f
  - id: toggle_own_trigger
    type: io.kestra.plugin.core.trigger.Toggle
    namespace: company.team
    flowId: f
    trigger: schedule
    enabled: false
"""
    assert [task.id for task in load_flow(text).tasks] == ["other", "toggle_own_trigger"]


def test_kestras_deprecated_template_task_is_refused_while_templates_are_off_with_how_and_what_instead(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KESTRA_STREAM_TEMPLATES_ENABLED", raising=False)
    text = HEAD + """tasks:
  - id: shared
    type: io.kestra.core.tasks.flows.Template
    namespace: company.team
    templateId: shared_steps
"""
    with pytest.raises(FlowValidationError) as caught:
        load_flow(text)
    (problem,) = caught.value.problems
    assert problem.path == "tasks[0]"
    assert "flow.Template is deprecated by Kestra and templates are off" in problem.message
    assert "KESTRA_STREAM_TEMPLATES_ENABLED=true" in problem.message and "flow.Subflow" in problem.message
