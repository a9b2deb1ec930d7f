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
