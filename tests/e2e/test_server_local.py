"""`kestra-stream server local` deploys and watches a flows directory and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

FLOW = """
id: watched
namespace: e2e.server
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


def revisions(home: Path) -> list[int]:
    """Only once the engine has said it started: before that the file may exist without its tables."""
    with sqlite3.connect(home / "kestra-stream.db") as conn:
        return [r for (r,) in conn.execute("SELECT revision FROM flows WHERE id = 'watched' ORDER BY revision")]


class Lines:
    """Collects a pipe's lines on a thread, so the test can watch them and still read them all at the end."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        with pipe:
            self.lines.extend(pipe)

    def logged(self, event: str) -> bool:
        return any(_event(line) == event for line in list(self.lines))

    def text(self) -> str:
        self._thread.join(timeout=15)
        return "".join(self.lines)


def _event(line: str) -> object:
    try:
        return json.loads(line).get("event")
    except (ValueError, AttributeError):
        return None


def wait_for(check: object, what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within}s in vain for {what}")
        time.sleep(0.1)


def replace_with_a_later_mtime(path: Path, text: str, scratch: Path) -> None:
    """The watcher compares modification times, which a rewrite within the same clock tick would keep:
    the new file gets a later one before it replaces the old in one rename."""
    staged = scratch / path.name
    staged.write_text(text)
    later = path.stat().st_mtime + 1
    os.utime(staged, (later, later))
    os.replace(staged, path)


def test_server_local_deploys_changed_flows_as_new_revisions_and_stops_on_sigterm(tmp_path: Path) -> None:
    flows, home = tmp_path / "flows", tmp_path / "home"
    flows.mkdir()
    (flows / "watched.yaml").write_text(FLOW.format(message="one"))
    (flows / "broken.yaml").write_text("id: broken\nnamespace: e2e.server\ntasks: []\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "kestra_stream", "--log-format", "json", "--log-level", "INFO",
         "server", "local", "--flows", str(flows), "--home", str(home), "--port", "0"],
        stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    stderr = Lines(server.stderr)
    try:
        wait_for(lambda: stderr.logged("embedded_engine_started"), "the engine to create its database", within=60)
        wait_for(lambda: revisions(home) == [1], "revision 1 of the watched flow", within=60)
        replace_with_a_later_mtime(flows / "watched.yaml", FLOW.format(message="two"), tmp_path)
        wait_for(lambda: revisions(home) == [1, 2], "revision 2 after the file changed", within=60)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    logged = stderr.text()
    assert server.returncode == 0, logged
    assert "flow_invalid" in logged and "broken.yaml" in logged
