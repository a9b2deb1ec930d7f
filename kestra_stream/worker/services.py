"""What a task may reach of the orchestrator beyond its own job: other executions, their logs, triggers,
and the stored history of executions.

Kestra's tasks reach its repositories and queues through the application context; here a worker
hands its attempts one small interface, ``TaskServices``, built by each backend on what the
process already has: the embedded engine its SQLite store and its request path, the Kafka stack
the executions client that follows the executions and logs topics and sends requests to the
executor, and Elasticsearch when the process is given one (the history: counts and purges; and the
log lines too in a worker process, which follows neither topic).
What a process lacks makes the task that needs it fail saying which setting to give, rather
than see nothing (``Unavailable``, ``BackendServices`` without a scheduler or a history).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from kestra_stream.errors import BackendError, ExecutionStateError, InputError, TaskFailure
from kestra_stream.executor._requests import ExecutionRequests
from kestra_stream.models.log import LogEntry
from kestra_stream.search import CountQuery, ExecutionPurge, FlowExecutions, LogPurge, Purged
from kestra_stream.storage import StorageError
from kestra_stream.worker.history import History

T = TypeVar("T")


class TaskServices(Protocol):
    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        """Every log line of ``execution_id`` stored so far, oldest first.

        Lines written before this call by tasks that have ended are included. Raises TaskFailure
        when this backend cannot read that execution's lines.
        """
        ...

    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None:
        """Resume a paused execution with its Pause's ``onResume`` inputs; TaskFailure if it cannot. With
        ``namespace`` and ``flow_id`` (both or neither), the execution must be one of that flow."""
        ...

    async def set_trigger_enabled(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> None:
        """Enable or disable a trigger of a flow, as the API does; TaskFailure if it cannot."""
        ...


    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        """Executions per flow that ``query`` covers (flows with none left out); TaskFailure if it cannot."""
        ...

    async def purge_executions(self, purge: ExecutionPurge) -> Purged:
        """Purge the ended executions ``purge`` covers (what of them it says); TaskFailure if it cannot."""
        ...

    async def purge_logs(self, purge: LogPurge) -> int:
        """Delete the log lines ``purge`` covers, returning how many; TaskFailure if it cannot."""
        ...


class LogSource(Protocol):
    async def execution_logs(self, execution_id: str) -> list[LogEntry]: ...


class LogsByExecution(Protocol):
    def logs(self, execution_id: str) -> list[LogEntry]: ...


class StoreLogs:
    """Log lines of an in-process store whose writes are visible at once (the embedded engine's)."""

    def __init__(self, store: LogsByExecution) -> None:
        self._store = store

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        return self._store.logs(execution_id)


class Unavailable:
    """The services of a worker that runs without any store of executions (``kestra-stream worker``)."""

    def __init__(self, why: str) -> None:
        self._why = why

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        raise TaskFailure(f"the logs of execution {execution_id} cannot be read here: {self._why}")

    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None:
        raise TaskFailure(f"execution {execution_id} cannot be resumed from here: {self._why}")

    async def set_trigger_enabled(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> None:
        raise TaskFailure(f"trigger {namespace}.{flow_id}.{trigger_id} cannot be changed from here: {self._why}")

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        raise TaskFailure(f"executions cannot be counted here: {self._why}")

    async def purge_executions(self, purge: ExecutionPurge) -> Purged:
        raise TaskFailure(f"executions cannot be purged from here: {self._why}")

    async def purge_logs(self, purge: LogPurge) -> int:
        raise TaskFailure(f"logs cannot be purged from here: {self._why}")


# Disable (True) or enable a trigger by its uid: the scheduler's ``set_disabled`` on its trigger store.
TriggerSwitch = Callable[[str, bool], Awaitable[object]]


class BackendServices:
    """Services over a backend's log source and its request path (the API's and the CLI's own).

    Trigger state belongs to the scheduler: a process that runs one hands it over (``use_triggers``);
    without it (``execute``) a task that changes a trigger fails saying so.
    """

    def __init__(self, logs: LogSource, requests: ExecutionRequests, *, history: History | None = None,
                 without_history: str = "this process keeps no history of executions") -> None:
        self._logs = logs
        self._requests = requests
        self._triggers: TriggerSwitch | None = None
        self._history = history
        self._without_history = without_history

    def use_triggers(self, switch: TriggerSwitch) -> None:
        self._triggers = switch

    def use_history(self, history: History) -> None:
        self._history = history

    def use_logs(self, logs: LogSource) -> None:
        self._logs = logs

    def _stored(self, what: str) -> History:
        if self._history is None:
            raise TaskFailure(f"{what}: {self._without_history}")
        return self._history

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        return await self._guarded(self._stored("executions cannot be counted here").count_executions(query))

    async def purge_executions(self, purge: ExecutionPurge) -> Purged:
        return await self._guarded(self._stored("executions cannot be purged from here").purge_executions(purge))

    async def purge_logs(self, purge: LogPurge) -> int:
        return await self._guarded(self._stored("logs cannot be purged from here").purge_logs(purge))

    @staticmethod
    async def _guarded(call: Awaitable[T]) -> T:
        try:
            return await call
        except (BackendError, StorageError) as exc:
            raise TaskFailure(str(exc)) from exc

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        return await self._guarded(self._logs.execution_logs(execution_id))

    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None:
        try:
            execution = await self._requests.execution(execution_id)
            # Kestra finds the execution by its id alone; flow coordinates a user set must name its flow.
            if namespace is not None and (execution.namespace, execution.flow_id) != (namespace, flow_id):
                raise TaskFailure(f"execution {execution_id} is one of flow {execution.namespace}.{execution.flow_id}, "
                                  f"not of {namespace}.{flow_id}: set `namespace` and `flowId` to its flow's")
            await self._requests.resume(execution_id, inputs)
        except (ExecutionStateError, InputError) as exc:
            raise TaskFailure(f"execution {execution_id} cannot be resumed: {exc}") from exc

    async def set_trigger_enabled(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> None:
        where = f"trigger '{trigger_id}' of flow {namespace}.{flow_id}"
        if self._triggers is None:
            raise TaskFailure(f"{where} cannot be changed: no scheduler runs in this process (`execute` runs none); "
                              "run the flow on `kestra-stream server local` or `server standalone`")
        try:
            flow = self._requests.latest_flow(namespace, flow_id)
        except BackendError as exc:
            raise TaskFailure(f"Unable to find flow {namespace}.{flow_id}: {exc}") from exc
        if flow.find_trigger(trigger_id) is None:
            raise TaskFailure(f"Unable to find trigger '{trigger_id}' for the flow {namespace}.{flow_id}")
        await self._triggers(f"{namespace}/{flow_id}/{trigger_id}", not enabled)
