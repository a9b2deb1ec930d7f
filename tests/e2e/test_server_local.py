"""`kestra-stream server local` deploys and watches a flows directory and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

FLOW = """
id: watched
namespace: e2e.server
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


def revisions(home: Path) -> list[int]:
    db = home / "kestra-stream.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [r for (r,) in conn.execute("SELECT revision FROM flows WHERE id = 'watched' ORDER BY revision")]


def wait_for(check: object, what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within}s in vain for {what}")
        time.sleep(0.1)


def test_server_local_deploys_changed_flows_as_new_revisions_and_stops_on_sigterm(tmp_path: Path) -> None:
    flows, home = tmp_path / "flows", tmp_path / "home"
    flows.mkdir()
    (flows / "watched.yaml").write_text(FLOW.format(message="one"))
    (flows / "broken.yaml").write_text("id: broken\nnamespace: e2e.server\ntasks: []\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "kestra_stream", "--log-format", "json", "--log-level", "INFO",
         "server", "local", "--flows", str(flows), "--home", str(home), "--port", "0"],
        stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: revisions(home) == [1], "revision 1 of the watched flow")
        time.sleep(0.05)  # a distinct modification time for the change below
        (flows / "watched.yaml").write_text(FLOW.format(message="two"))
        wait_for(lambda: revisions(home) == [1, 2], "revision 2 after the file changed")
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=15)
    assert server.returncode == 0, stderr
    assert "flow_invalid" in stderr and "broken.yaml" in stderr
