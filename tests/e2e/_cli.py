"""The ``kestra-stream`` command as a user runs it: a real process whose output lines are read as they come."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

__all__ = ["CliProcess", "run_cli"]


def _environ(extra: Mapping[str, str] | None) -> dict[str, str]:
    # Buffered as for a user's pipe: what the command shows as it happens, it must flush.
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, **(extra or {})}


def run_cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the command to its end with stdout and stderr on pipes (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "kestra_stream", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=_environ(env), cwd=cwd, stdin=subprocess.DEVNULL)


class CliProcess:
    """A running ``kestra-stream`` whose stdout and stderr lines are collected by two reader threads."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None, stdin: int | None = None) -> None:
        """``stdin``: a file descriptor (a terminal's, say); no input by default."""
        self.process = subprocess.Popen([sys.executable, "-m", "kestra_stream", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                        text=True, env=_environ(env))
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(["--- stdout", *self.stdout, "--- stderr", *self.stderr])

    def wait_for(self, check: Callable[[], object], what: str, within: float = 60.0) -> None:
        """Poll ``check`` until it holds; fail with the output so far if the process ends or time runs out."""
        deadline = time.monotonic() + within
        while not check():
            if self.process.poll() is not None:
                self._join()
                if check():
                    return
                raise AssertionError(f"the command exited ({self.process.returncode}) before {what}\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {within:g} s in vain for {what}\n{self.output()}")
            time.sleep(0.05)

    def line(self, stream: list[str], contains: str, within: float = 60.0) -> str:
        """The first line of ``stream`` containing ``contains``, once it was written."""
        found: list[str] = []

        def check() -> bool:
            found[:] = [line for line in list(stream) if contains in line][:1]
            return bool(found)

        self.wait_for(check, f"a line containing {contains!r}", within)
        return found[0]

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def finish(self, within: float = 60.0) -> int:
        """Wait for the process to exit on its own; its exit code."""
        try:
            code = self.process.wait(timeout=within)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"the command did not exit within {within:g} s\n{self.output()}") from exc
        self._join()
        return code

    def stop(self) -> None:
        """SIGTERM (then SIGKILL) if still running; used in a ``finally``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._join()

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not any(r.is_alive() for r in self._readers):
                stream.close()
