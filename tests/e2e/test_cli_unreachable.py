"""A service that does not answer is one line on stderr: what, where, how to start it; no traceback.

Each test points one service at a local port where nothing listens (the shared services stay up).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e._cli import run_cli


def closed_port() -> int:
    """A port nothing listens on: bound by the kernel for an instant, then released (never listened on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.kafka
def test_server_standalone_without_elasticsearch_says_so_in_one_line(kafka_bootstrap: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = run_cli("server", "standalone", "--home", str(tmp_path), "--elasticsearch-url", url,
                   "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", "unreachable-es.")
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert line.startswith(f"Error: Elasticsearch is not reachable at {url} (Connection refused)")
    assert "`kestra-stream services up elasticsearch`" in line


def test_server_standalone_without_kafka_says_so_in_one_line(tmp_path: Path) -> None:
    bootstrap = f"127.0.0.1:{closed_port()}"
    done = run_cli("server", "standalone", "--home", str(tmp_path), "--bootstrap-servers", bootstrap,
                   "--elasticsearch-url", f"http://127.0.0.1:{closed_port()}")
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and len(lines) == 2, done.stderr  # Kafka's line, then Elasticsearch's
    assert lines[0].startswith(f"Error: Kafka is not reachable at {bootstrap} (Connection refused)")
    assert "`kestra-stream services up kafka`" in lines[0]


def test_a_configured_minio_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    config = tmp_path / "settings.yaml"
    config.write_text(f"storage:\n  type: minio\n  endpoint: {endpoint}\n")
    done = run_cli("server", "local", "--home", str(tmp_path / "home"), "--config", str(config))
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert line.startswith(f"Error: MinIO (the internal storage) is not reachable at {endpoint}")
    assert "`kestra-stream services up minio`" in line


def test_execute_on_kafka_without_a_broker_says_so_in_one_line(tmp_path: Path) -> None:
    flow = tmp_path / "hello.yaml"
    flow.write_text("id: hello\nnamespace: e2e.cli\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n"
                    "    message: hi\n")
    bootstrap = f"127.0.0.1:{closed_port()}"
    done = run_cli("execute", str(flow), "--backend", "kafka", "--bootstrap-servers", bootstrap)
    assert done.returncode == 1 and done.stdout == ""
    assert one_line_error(done.stderr).startswith(f"Error: Kafka is not reachable at {bootstrap}")
