"""The web UI in a real browser: the Playwright journeys of kestra_stream/ui/e2e, driven by the
machine's Chromium, against a real `server local` and a real `server standalone --backend kafka`.

The journeys run through `npx playwright test`; pytest starts each server on a free port with a
fresh home and hands its address over. Screenshots of every page land in tests/ui/artifacts/.
Missing Chromium, Node or the built UI fails the test under CI=true (`make test` installs them all).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import kestra_stream

UI = Path(kestra_stream.__file__).parent / "ui"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("KESTRA_STREAM_CHROMIUM", "/usr/bin/chromium")


def _require_browser_tools() -> str:
    """The npx that runs Playwright; fails (CI) or skips when a piece is missing, saying how to get it."""
    npx = shutil.which("npx")
    missing = []
    if npx is None:
        missing.append("Node.js and npm (apt-get install nodejs npm)")
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (UI / "node_modules" / "@playwright" / "test").is_dir():
        missing.append("the UI's packages (make ui, or npm ci in kestra_stream/ui)")
    if not (UI / "dist" / "index.html").is_file():
        missing.append("the built UI (make ui, or npm run build in kestra_stream/ui)")
    if missing:
        message = "browser tests need " + "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    assert npx is not None
    return npx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def _server(args: list[str], log: Path, within: float = 120.0) -> Iterator[str]:
    """Runs `kestra-stream <args> --port N` until the block ends; yields the UI's address.

    The server runs in a process group of its own: `server standalone` may be several processes
    (a supervisor and its children), and none of them may outlive the test.
    """
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "kestra_stream", *args, "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + within
            while not (_answers(f"{base}/api/v1/flows/search") and _answers(f"{base}/ui/")):
                if process.poll() is not None:
                    raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not answer within {within}s:\n{log.read_text()[-4000:]}")
                time.sleep(0.25)
            yield f"{base}/ui/"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):  # children a stopped supervisor left behind
                os.killpg(process.pid, signal.SIGKILL)


def _playwright(npx: str, base_url: str, artifacts: Path, *extra: str) -> None:
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    env = {**os.environ, "KESTRA_STREAM_UI_URL": base_url, "KESTRA_STREAM_UI_ARTIFACTS": str(artifacts),
           "KESTRA_STREAM_UI_RESULTS": str(artifacts / "results"), "KESTRA_STREAM_CHROMIUM": CHROMIUM,
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    result = subprocess.run([npx, "playwright", "test", *extra], cwd=UI, env=env, capture_output=True,
                            text=True, timeout=1200, check=False)
    assert result.returncode == 0, f"Playwright failed:\n{result.stdout[-12000:]}\n{result.stderr[-4000:]}"


@pytest.mark.timeout(1500)
def test_ui_journeys_on_server_local(tmp_path: Path) -> None:
    npx = _require_browser_tools()
    with _server(["server", "local", "--home", str(tmp_path / "home")], tmp_path / "server.log") as url:
        _playwright(npx, url, ARTIFACTS / "local")
    for page in ("flow-new", "editor-error-marker", "editor-completion", "flow-editor", "flow-revisions",
                 "flow-overview", "run-dialog", "execution", "flows-list", "plugins"):
        assert (ARTIFACTS / "local" / "chromium" / f"{page}.png").is_file(), page


@pytest.mark.kafka
@pytest.mark.elasticsearch
@pytest.mark.timeout(1500)
def test_ui_run_journey_on_server_standalone_kafka(kafka_bootstrap: str, elasticsearch_url: str,
                                                   tmp_path: Path) -> None:
    npx = _require_browser_tools()
    run = uuid.uuid4().hex[:8]
    args = ["server", "standalone", "--backend", "kafka", "--home", str(tmp_path / "home"),
            "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", f"it-ui-{run}.", "--partitions", "2",
            "--elasticsearch-url", elasticsearch_url, "--index-prefix", f"it_ui_{run}"]
    with _server(args, tmp_path / "server.log", within=240.0) as url:
        _playwright(npx, url, ARTIFACTS / "kafka", "--grep", "@kafka")
    assert (ARTIFACTS / "kafka" / "chromium" / "execution.png").is_file()
