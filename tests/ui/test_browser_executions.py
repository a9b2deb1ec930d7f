"""The executions pages in a real browser (issue 17): the execution page followed live (Gantt, logs,
topology, resume, restart, a task run's state changed, pause, kill) and the executions list (filters, what started
each execution, bulk kill, restart, replay and delete), against a real `server local` and a real
`server standalone --backend kafka` with Elasticsearch.

The journeys are kestra_stream/ui/e2e-executions, run by Playwright with their own config; the
server, the browser and the artifacts are handled as for part 1's journeys (tests/ui/test_browser.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.ui.test_browser import ARTIFACTS, _playwright, _require_browser_tools, _server

CONFIG = ("--config", "playwright.executions.config.ts")
SHOTS = ("execution-gantt-paused", "execution-logs-live", "execution-gantt", "execution-topology",
         "execution-overview", "execution-outputs", "execution-state-changed", "executions-list", "executions-killed",
         "execution-killed", "executions-replayed", "executions-deleted", "executions-triggered-by-webhook",
         "executions-triggered-by-none", "execution-trigger-log-file")


def _assert_shots(folder: Path) -> None:
    for name in SHOTS:
        assert (folder / "chromium" / f"{name}.png").is_file(), name


@pytest.mark.timeout(1500)
def test_executions_journeys_on_server_local(tmp_path: Path) -> None:
    npx = _require_browser_tools()
    with _server(["server", "local", "--home", str(tmp_path / "home")], tmp_path / "server.log") as url:
        _playwright(npx, url, ARTIFACTS / "executions-local", *CONFIG)
    _assert_shots(ARTIFACTS / "executions-local")


@pytest.mark.kafka
@pytest.mark.elasticsearch
@pytest.mark.timeout(1500)
def test_executions_journeys_on_server_standalone_kafka(kafka_bootstrap: str, elasticsearch_url: str,
                                                        tmp_path: Path) -> None:
    npx = _require_browser_tools()
    run = uuid.uuid4().hex[:8]
    args = ["server", "standalone", "--backend", "kafka", "--home", str(tmp_path / "home"),
            "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", f"it-uix-{run}.", "--partitions", "2",
            "--elasticsearch-url", elasticsearch_url, "--index-prefix", f"it_uix_{run}"]
    with _server(args, tmp_path / "server.log", within=240.0) as url:
        _playwright(npx, url, ARTIFACTS / "executions-kafka", *CONFIG)
    _assert_shots(ARTIFACTS / "executions-kafka")
