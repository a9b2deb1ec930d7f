"""Counts and purges of stored executions for worker-run tasks (execution.Count, PurgeExecutions, PurgeLogs).

Each backend hands over its store of executions (``HistoryStore``: the embedded engine's SQLite
file, Elasticsearch with the executions topic on Kafka); ``History`` adds what is the same on
both: which executions a purge covers, and their files in internal storage.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from kestra_stream.models.execution import Execution
from kestra_stream.search import CountQuery, ExecutionPurge, FlowExecutions, LogPurge, Purged
from kestra_stream.storage import Storage, execution_uri

log = structlog.get_logger(__name__)


class HistoryStore(Protocol):
    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]: ...

    async def ended_executions(self, purge: ExecutionPurge) -> list[Execution]:
        """Ended executions, at least every one ``purge`` covers (``History`` keeps only those)."""
        ...

    async def delete_logs(self, purge: LogPurge) -> int:
        """Delete the log lines ``purge`` covers, from every copy the backend searches; how many."""
        ...

    async def delete_execution(self, execution_id: str) -> None:
        """Forget an ended execution (with any log line left of it), as the API's delete does."""
        ...


class History:
    def __init__(self, store: HistoryStore, storage: Storage) -> None:
        self._store = store
        self._storage = storage

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        return await self._store.count_executions(query)

    async def purge_logs(self, purge: LogPurge) -> int:
        return await self._store.delete_logs(purge)

    async def purge_executions(self, purge: ExecutionPurge) -> Purged:
        total = Purged()
        for execution in await self._store.ended_executions(purge):
            if not purge.covers(execution):
                continue
            files = await self._delete_files(execution) if purge.storage else 0
            lines = await self._store.delete_logs(LogPurge.of_execution(execution.id)) if purge.logs else 0
            if purge.executions:
                await self._store.delete_execution(execution.id)
            log.info("execution_purged", execution_id=execution.id, execution=purge.executions, logs=lines,
                     files=files)
            total += Purged(executions=int(purge.executions), logs=lines, storage_files=files)
        return total

    async def _delete_files(self, execution: Execution) -> int:
        uris = await self._storage.list(execution_uri(execution.namespace, execution.flow_id, execution.id))
        return sum([await self._storage.delete(uri) for uri in uris])
