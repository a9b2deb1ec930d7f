"""The Kafka-facing commands as a user runs them: `flow deploy` and `server standalone`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaFlowStore, KafkaSettings

pytestmark = pytest.mark.kafka

FLOW = """
id: deployed
namespace: it.cli
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


def cli(*args: str, bootstrap: str, prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kestra_stream", *args, "--bootstrap-servers", bootstrap,
                           "--topic-prefix", prefix, "--partitions", "2"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_flow_deploy_publishes_a_new_revision_only_when_the_source_changed(kafka_bootstrap: str,
                                                                          tmp_path: Path) -> None:
    prefix = f"it-cli-{uuid.uuid4().hex[:8]}."
    flow = tmp_path / "deployed.yaml"
    flow.write_text(FLOW.format(message="one"))
    first = cli("flow", "deploy", str(flow), bootstrap=kafka_bootstrap, prefix=prefix)
    again = cli("flow", "deploy", str(flow), bootstrap=kafka_bootstrap, prefix=prefix)
    flow.write_text(FLOW.format(message="two"))
    changed = cli("flow", "deploy", str(tmp_path), bootstrap=kafka_bootstrap, prefix=prefix)

    assert [r.returncode for r in (first, again, changed)] == [0, 0, 0], changed.stderr
    assert [r.stdout.strip() for r in (first, again, changed)] == [
        "it.cli.deployed revision 1", "it.cli.deployed revision 1", "it.cli.deployed revision 2"]


def test_flow_deploy_publishes_nothing_when_a_flow_is_invalid(kafka_bootstrap: str, tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(FLOW.format(message="fine"))
    (tmp_path / "bad.yaml").write_text("id: bad\nnamespace: it.cli\ntasks: []\n")
    result = cli("flow", "deploy", str(tmp_path), bootstrap=kafka_bootstrap, prefix=f"it-cli-{uuid.uuid4().hex[:8]}.")
    assert result.returncode == 1
    assert "bad.yaml" in result.stdout + result.stderr and "revision" not in result.stdout


@pytest.mark.elasticsearch
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["supervisor", "in-process"])
def test_server_standalone_publishes_its_flows_and_stops_on_sigterm(kafka_bootstrap: str, elasticsearch_url: str,
                                                                     tmp_path: Path, mode: list[str]) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"it-cli-{run}."
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "deployed.yaml").write_text(FLOW.format(message="served"))
    server = subprocess.Popen(
        [sys.executable, "-m", "kestra_stream", "server", "standalone", "--flows", str(flows), "--home",
         str(tmp_path / "home"), "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", prefix,
         "--partitions", "2", "--elasticsearch-url", elasticsearch_url, "--index-prefix", f"it_cli_{run}",
         *mode],
        stderr=subprocess.PIPE, text=True)
    try:
        settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=2)

        async def published() -> int:
            # Generous: the supervisor's webserver, which deploys the flows, starts after the other children.
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                store = KafkaFlowStore(settings)
                try:
                    await store.start()
                    return store.get("it.cli", "deployed")[1]
                except BackendError:  # topics or flow not there yet
                    await asyncio.sleep(0.2)
                finally:
                    await store.stop()
            raise AssertionError("the standalone server never published its flow")

        assert asyncio.run(published()) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
