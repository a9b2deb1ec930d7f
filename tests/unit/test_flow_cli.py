"""``kestra-stream flow validate``: what it prints and its exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kestra_stream.cli import main

GOOD = ("id: hello\nnamespace: company.team\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
BAD = "id: broken\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Lg\n"


def test_valid_flows_print_ok_and_exit_0(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(GOOD)
    result = CliRunner().invoke(main, ["flow", "validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output == "OK company.team.hello\n"


def test_an_invalid_flow_prints_each_problem_with_its_position_and_exits_1(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    result = CliRunner().invoke(main, ["flow", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "OK company.team.hello"
    assert lines[1].startswith(f"{bad}:5:11: unknown task type 'io.kestra.plugin.core.log.Lg'")
    assert lines[1].endswith("(at tasks[0].type)")
    assert len(lines) == 2


def test_an_unparsable_expression_is_a_warning_under_ok_and_exits_0(tmp_path: Path) -> None:
    late = tmp_path / "late.yaml"
    late.write_text(GOOD.replace("message: hi", "message: '{{ inputs.name'"))
    result = CliRunner().invoke(main, ["flow", "validate", str(late)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "OK company.team.hello"
    assert lines[1].startswith(f"{late}:6:14: warning: invalid expression '{{{{ inputs.name'")
    assert "fails when it runs" in lines[1] and lines[1].endswith("(at tasks[0].message)")
    assert len(lines) == 2


def test_a_path_that_does_not_exist_fails(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(GOOD)
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(main, ["flow", "validate", str(tmp_path / "hello.yaml"), str(missing)])
    assert result.exit_code == 1
    assert f"{missing}: no such file or directory" in result.output
    assert "OK company.team.hello" in result.output


def test_a_directory_without_flows_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["flow", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no *.yml or *.yaml flow file" in result.output


def test_validate_needs_at_least_one_path() -> None:
    result = CliRunner().invoke(main, ["flow", "validate"])
    assert result.exit_code == 2
