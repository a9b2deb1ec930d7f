"""A paused execution on Kafka, resumed from another shell with the command `execute` prints."""

from __future__ import annotations

import shlex
import uuid
from pathlib import Path

import pytest

from tests.e2e._cli import CliProcess, run_cli

pytestmark = pytest.mark.kafka

FLOW = """id: approval
namespace: it.cli
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: logged before the pause
  - id: approve
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: reason
        type: STRING
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "resumed because {{ outputs.approve.onResume.reason }}"
"""


def kafka_args(bootstrap: str, prefix: str) -> list[str]:
    return ["--bootstrap-servers", bootstrap, "--topic-prefix", prefix]


def test_a_paused_execution_on_kafka_is_resumed_by_the_command_it_prints(kafka_bootstrap: str,
                                                                        tmp_path: Path) -> None:
    prefix = f"it-cli-{uuid.uuid4().hex[:8]}."
    flow = tmp_path / "approval.yaml"
    flow.write_text(FLOW)
    command = CliProcess("execute", str(flow), "--with-logs", "--backend", "kafka", "--partitions", "2",
                         *kafka_args(kafka_bootstrap, prefix))
    try:
        notice = command.line(command.stdout, "PAUSED at task 'approve'", within=120)
        execution_id = command.stdout[0].split()[1]
        printed = notice.split("`")[1]
        assert printed == shlex.join(["kestra-stream", "execution", "resume", execution_id,
                                      *kafka_args(kafka_bootstrap, prefix)])
        assert command.process.poll() is None  # on Kafka it waits for the resume
        # The printed command as another shell runs it; a missing onResume input is refused first.
        args = shlex.split(printed)[1:]
        refused = run_cli(*args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "Invalid input 'reason'" in refused.stderr
        resumed = run_cli(*args, "-i", "reason=approved by a test")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert resumed.stdout.startswith(f"execution {execution_id} resumed: ")
        assert command.finish(within=120) == 0
    finally:
        command.stop()
    assert any(line.endswith("after: resumed because approved by a test") for line in command.stdout)
    assert command.stdout[-1].startswith("SUCCESS in ")
    again = run_cli("execution", "resume", execution_id, *kafka_args(kafka_bootstrap, prefix))
    assert again.returncode == 1
    assert f"execution {execution_id} is SUCCESS, not PAUSED" in again.stderr


def test_resuming_an_unknown_execution_says_it_does_not_exist(kafka_bootstrap: str) -> None:
    prefix = f"it-cli-{uuid.uuid4().hex[:8]}."
    applied = run_cli("topics", "apply", "--bootstrap-servers", kafka_bootstrap, "--prefix", prefix,
                      "--partitions", "1")
    assert applied.returncode == 0, applied.stderr
    done = run_cli("execution", "resume", "noSuchExecution000000", *kafka_args(kafka_bootstrap, prefix))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "execution noSuchExecution000000 does not exist on Kafka" in done.stderr
