"""logToFile: an attempt's log lines written to a file in internal storage instead of the log stream.

Kestra's worker appends each line of such a task to a local file and, once the attempt ends, puts
the file in the task run's storage folder and records its URI on the attempt (``logFile``); the UI
offers it for download. The lines are spooled to disk as they come, as there, so a task that logs a
lot holds no more memory than one that logs little.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from kestra_stream.executor.commands import RunTask
from kestra_stream.models.log import LogEntry, log_line
from kestra_stream.storage import Storage, task_uri


def log_file_name(attempt: int) -> str:
    # One name per attempt: a job delivered again (a worker restarted mid-attempt) overwrites the
    # file of its earlier run instead of leaving a second one behind.
    return f"log-attempt-{attempt}.txt"


def format_line(entry: LogEntry) -> str:
    """One line as the file holds it: ISO time, level padded to five, the message."""
    return log_line(entry.timestamp, entry.level, entry.message)


class LogFile:
    """The log lines of one attempt, spooled to a local file until ``store`` puts them in storage.

    The spool keeps whole entries (one JSON document a line) rather than the file's text, so that
    an attempt whose file cannot reach storage (killed, timed out, storage down) can still hand its
    lines to the log stream: ``release``.
    """

    def __init__(self, job: RunTask, directory: Path) -> None:
        self._job = job
        directory.mkdir(parents=True, exist_ok=True)
        self._spool: IO[str] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by store/release
            "w", encoding="utf-8", prefix="log-", suffix=".jsonl", dir=directory, delete=False)

    @property
    def _path(self) -> Path:
        return Path(self._spool.name)

    def add(self, entry: LogEntry) -> None:
        self._spool.write(entry.model_dump_json() + "\n")

    def _entries(self) -> list[LogEntry]:
        self._spool.close()
        with self._path.open(encoding="utf-8") as spool:
            return [LogEntry.model_validate_json(line) for line in spool if line.strip()]

    async def store(self, storage: Storage) -> str:
        """Put the file in the task run's storage folder and return its ``kestra://`` URI."""
        self._spool.close()
        text = self._path.with_suffix(".txt")
        try:
            with self._path.open(encoding="utf-8") as spool, text.open("w", encoding="utf-8") as out:
                for line in spool:
                    if line.strip():
                        out.write(format_line(LogEntry.model_validate_json(line)))
            job = self._job
            uri = task_uri(job.namespace, job.flow_id, job.execution_id, job.task.id, job.taskrun_id,
                           log_file_name(job.attempt))
            return await storage.put(uri, text)
        finally:
            text.unlink(missing_ok=True)

    def release(self, emit: Callable[[LogEntry], None]) -> None:
        """Hand every spooled line to ``emit`` (the log stream) instead."""
        for entry in self._entries():
            emit(entry)
        self.discard()

    def discard(self) -> None:
        self._spool.close()
        self._path.unlink(missing_ok=True)
