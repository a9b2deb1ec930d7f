"""`kestra-stream execute` as a user sees it: a real process, its output read through pipes (not a terminal)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e._cli import CliProcess, run_cli

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


# ----- following an execution -------------------------------------------------------------------
WAITS = """tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: logged before the wait
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    delay: PT1H
"""
PAUSES = """tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: logged before the pause
  - id: approval
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: reason
        type: STRING
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "resumed because {{ outputs.approval.onResume.reason }}"
"""
STARTED = re.compile(r"^execution (\w+) started \(e2e\.cli\.\w+ revision 1\)$")


def started_id(command: CliProcess) -> str:
    command.wait_for(lambda: command.stdout, "the first line")
    match = STARTED.match(command.stdout[0])
    assert match, command.output()
    return match.group(1)


def test_the_first_line_is_the_execution_id_and_logs_stream_while_it_runs_then_ctrl_c_kills_it(
        tmp_path: Path) -> None:
    command = CliProcess("execute", str(write_flow(tmp_path, "waits", WAITS)), "--with-logs")
    try:
        execution_id = started_id(command)
        command.line(command.stdout, "before: logged before the wait")
        notice = command.line(command.stdout, "PAUSED at task 'wait'")
        assert "the pause ends by itself" in notice
        assert command.process.poll() is None  # the execution waits an hour: these lines came as it ran
        command.interrupt()
        assert command.finish() == 1
    finally:
        command.stop()
    assert f"killing execution {execution_id}" in command.stdout[3]
    assert f"e2e.cli.waits  {execution_id}  KILLED" in command.stdout
    assert command.stdout[-1].startswith("KILLED in ")


def test_a_second_ctrl_c_leaves_at_once_without_waiting_for_the_kill(tmp_path: Path) -> None:
    # A kill that never completes (the driver's engine): only the second Ctrl-C can end the follow.
    # The real command's kill ends too fast to be cut short reliably: it marks the execution KILLED at once.
    driver = Path(__file__).with_name("ctrl_c_driver.py")
    done = subprocess.run([sys.executable, str(driver), str(tmp_path / "home")], capture_output=True, text=True,
                          timeout=120, check=False, cwd=Path(__file__).parents[2])
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Ctrl-C again to leave at once" in done.stdout
    assert "left without waiting: execution" in done.stderr
    assert "the follow ended" not in done.stdout


def test_a_paused_execution_off_a_terminal_ends_the_command_as_paused_with_exit_code_3(tmp_path: Path) -> None:
    done = run_cli("execute", str(write_flow(tmp_path, "pauses", PAUSES)), "--with-logs")
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    execution_id = STARTED.match(lines[0]).group(1)  # type: ignore[union-attr]
    assert lines[1].endswith("before: logged before the pause")
    assert lines[2].startswith(f"execution {execution_id} PAUSED at task 'approval': nothing can resume it once "
                               "this command exits")
    assert "after the pause" not in done.stdout
    assert lines[-1].startswith("PAUSED after ")


def test_on_a_terminal_enter_resumes_a_paused_execution_with_the_on_resume_inputs_typed(tmp_path: Path) -> None:
    terminal, stdin = pty.openpty()
    command = CliProcess("execute", str(write_flow(tmp_path, "pauses", PAUSES)), "--with-logs", stdin=stdin)
    os.close(stdin)
    try:
        notice = command.line(command.stdout, "PAUSED at task 'approval'")
        assert "press Enter to resume it" in notice
        os.write(terminal, b"\n")  # the onResume input 'reason' has no default: refused, still paused
        command.line(command.stdout, "not resumed: Invalid input 'reason'")
        os.write(terminal, b"reason='all good'\n")
        assert command.finish() == 0
    finally:
        command.stop()
        os.close(terminal)
    assert any(line.endswith("after: resumed because all good") for line in command.stdout)
    assert command.stdout[-1].startswith("SUCCESS in ")


SERVICE_CLIENTS = ("confluent_kafka", "aiokafka", "kafka", "elasticsearch", "elastic_transport", "minio", "faust")
# The engine's own modules that hold those clients, or import them when imported.
SERVICE_MODULES = ("kestra_stream.kafka", "kestra_stream.search._elasticsearch", "kestra_stream.storage._minio",
                   "kestra_stream.indexer")
# Plugin distributions hello.yaml uses none of (its types are all core), and the HTTP client.
UNUSED_BY_HELLO = ("kestra_stream_plugin_scripts", "kestra_stream_plugin_kafka", "aiohttp")


# The command as its console script runs it, then the names in sys.modules written to a file at exit.
# (-X importtime would miss what importlib.import_module loads: the commands and the plugin modules.)
WITH_MODULES_AT_EXIT = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module("kestra_stream", run_name="__main__")
"""


@pytest.fixture(scope="module")
def imported_by_execute(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every module ``execute deploy/flows/hello.yaml`` has imported on the embedded engine when it exits."""
    out = tmp_path_factory.mktemp("modules") / "modules.json"
    done = subprocess.run([sys.executable, "-c", WITH_MODULES_AT_EXIT, str(out), "execute",
                           "deploy/flows/hello.yaml", "--input", "name=Kestra",
                           "--home", str(tmp_path_factory.mktemp("home"))],
                          capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "SUCCESS" in done.stdout.splitlines()[-1]
    imported = set(json.loads(out.read_text()))
    assert "kestra_stream.embedded" in imported  # the listing is real: the engine it ran is in it
    assert "kestra_stream_plugin_core.log" in imported  # and the plugin of the types it ran
    return imported


def test_execute_on_the_embedded_engine_imports_no_kafka_elasticsearch_or_minio_client(
        imported_by_execute: set[str]) -> None:
    assert sorted(m for m in imported_by_execute if m.split(".")[0] in SERVICE_CLIENTS) == []
    assert sorted(m for m in imported_by_execute if m.startswith(SERVICE_MODULES)) == []


def test_execute_imports_only_the_core_plugin_modules_of_its_flows_types(imported_by_execute: set[str]) -> None:
    # hello.yaml: output.OutputValues, log.Log, flow.ForEach (and the core's private helpers they import).
    core = sorted(m for m in imported_by_execute if m.startswith("kestra_stream_plugin_core.") and "._" not in m)
    assert core == ["kestra_stream_plugin_core.flow", "kestra_stream_plugin_core.log",
                    "kestra_stream_plugin_core.outputs"]


def test_execute_loads_only_the_plugin_distributions_its_flow_uses(imported_by_execute: set[str]) -> None:
    assert sorted(m for m in imported_by_execute if m.split(".")[0] in UNUSED_BY_HELLO) == []
