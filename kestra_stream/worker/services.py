"""What a task may read of the orchestrator beyond its own job (another execution's logs...).

Kestra's tasks reach its repositories through the application context; here a worker hands its
attempts one small interface, ``TaskServices``, that each backend implements on what it already
has in the process: the embedded engine its SQLite store, the Kafka stack the executions client
that follows the executions and logs topics. A worker started alone has neither, and a task that
needs them fails saying so (``Unavailable``) rather than seeing nothing.
"""

from __future__ import annotations

from typing import Protocol

from kestra_stream.errors import TaskFailure
from kestra_stream.models.log import LogEntry


class TaskServices(Protocol):
    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        """Every log line of ``execution_id`` stored so far, oldest first.

        Lines written before this call by tasks that have ended are included. Raises TaskFailure
        when this backend cannot read that execution's lines.
        """
        ...


class Unavailable:
    """The services of a worker that runs without any store of executions (``kestra-stream worker``)."""

    def __init__(self, why: str) -> None:
        self._why = why

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        raise TaskFailure(f"the logs of execution {execution_id} cannot be read here: {self._why}")


class LogsByExecution(Protocol):
    def logs(self, execution_id: str) -> list[LogEntry]: ...


class StoreServices:
    """Services over an in-process store whose writes are visible at once (the embedded engine's)."""

    def __init__(self, store: LogsByExecution) -> None:
        self._store = store

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        return self._store.logs(execution_id)
