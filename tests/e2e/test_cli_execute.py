"""`kestra-stream execute` as a user sees it: a real process, its output read through pipes (not a terminal)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e._cli import run_cli

LONG_MESSAGE = " ".join(f"word{n}" for n in range(120))  # about 900 characters, no line break


def write_flow(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"id: {name}\nnamespace: e2e.cli\n{body}")
    return path


def test_a_long_log_line_stays_one_line_when_the_output_is_piped(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, "long_line", f"""tasks:
  - id: a_task_with_a_rather_long_identifier_to_widen_the_table
    type: io.kestra.plugin.core.log.Log
    message: "{LONG_MESSAGE}"
""")
    done = run_cli("execute", str(flow), "--with-logs")
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if "word0 " in line]
    assert line.endswith(f"a_task_with_a_rather_long_identifier_to_widen_the_table: {LONG_MESSAGE}")


GREET = """inputs:
  - id: name
    type: STRING
  - id: count
    type: INT
    defaults: 1
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.name }}"
"""


def test_a_mistyped_input_name_is_refused_with_the_flow_inputs_and_a_suggestion(tmp_path: Path) -> None:
    done = run_cli("execute", str(write_flow(tmp_path, "greet", GREET)), "-i", "nmae=Ada")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""  # refused before any execution exists
    assert "unknown input 'nmae' (did you mean 'name'?)" in done.stderr
    assert "its inputs are name, count" in done.stderr


def test_an_input_given_to_a_flow_without_inputs_is_refused(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, "no_inputs", "tasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n"
                                             "    message: hi\n")
    done = run_cli("execute", str(flow), "-i", "name=Ada")
    assert done.returncode == 2
    assert "unknown input 'name'" in done.stderr and "it declares no inputs" in done.stderr


def test_a_missing_required_input_says_how_to_give_it(tmp_path: Path) -> None:
    done = run_cli("execute", str(write_flow(tmp_path, "greet", GREET)))
    assert done.returncode == 2
    assert "Invalid input 'name': a value is required" in done.stderr and "-i KEY=VALUE" in done.stderr
