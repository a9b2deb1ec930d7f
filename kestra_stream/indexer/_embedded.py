"""The embedded indexer: the engine's state and log listeners feed a ``SqliteRepository``.

Listeners run inside the executor loop, so they only buffer; a background task writes the
buffer every ``interval`` seconds (and once more on stop), off the loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import BackendError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.flows.record import FlowRecord
from kestra_stream.ids import new_id
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.search import IndexBatch, IndexedLog, LogPurge, SearchRepository

log = structlog.get_logger(__name__)


class EmbeddedIndexer:
    """Keeps the search repository of an ``EmbeddedEngine`` up to date."""

    def __init__(self, engine: EmbeddedEngine, repository: SearchRepository, *, interval: float = 0.2) -> None:
        self.engine = engine
        self.repository = repository
        self.interval = interval
        self._batch = IndexBatch()
        # Versions come from the wall clock, kept strictly increasing: listeners are called in fold
        # order, and a restarted process starts above what the previous one wrote.
        self._version = time.time_ns()
        self._task: asyncio.Task[None] | None = None
        engine.subscribe(self._on_state)
        engine.subscribe_logs(self._on_logs)
        # A deletion joins the buffer behind the snapshots already in it: a flush after the API's own
        # delete from the index must not bring the execution back.
        engine.subscribe_deletions(self._batch_deletion)
        engine.subscribe_log_purges(self._batch_log_purge)
        engine.flows.subscribe(self._on_flow)

    def _next_version(self) -> int:
        self._version = max(self._version + 1, time.time_ns())
        return self._version

    def _on_state(self, state: ExecutionState) -> None:
        self._batch.executions.append((state.execution, self._next_version()))

    def _on_logs(self, entries: list[LogEntry]) -> None:
        for entry in entries:
            self._batch.logs.append(IndexedLog(entry=entry, id=new_id(), seq=self._next_version()))

    def _batch_deletion(self, execution_id: str) -> None:
        self._batch.deleted_executions.append(execution_id)

    def _batch_log_purge(self, purge: LogPurge) -> None:
        self._batch.purged_logs.append(purge)

    def _on_flow(self, flow: Flow) -> None:
        self._batch.flows.append(flow_record(flow))

    def sync_flows(self) -> int:
        """Index the newest revision of every flow, deletions included (at start); returns their count.

        After that every deploy and deletion reaches the index through the flows' listener.
        """
        latest = [flow_record(flow) for flow in self.engine.flows.all_latest_with_deleted()]
        self._batch.flows.extend(latest)
        return len(latest)

    async def start(self) -> None:
        self.sync_flows()
        self._task = asyncio.create_task(self._flush_loop(), name="embedded-indexer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Write what the listeners buffered; on failure it stays buffered for the next flush."""
        batch, self._batch = self._batch, IndexBatch()
        if not len(batch):
            return
        # The index keeps an execution's newest version anyway: an execution that changed several times
        # since the last flush (three times for a short flow) is encoded and written once.
        batch.executions = list({execution.id: (execution, version)
                                 for execution, version in batch.executions}.values())
        try:
            await asyncio.to_thread(self.repository.write, batch)
        except BackendError as exc:
            log.warning("embedded_index_failed", documents=len(batch), error=str(exc))
            self._batch.executions[:0] = batch.executions
            self._batch.logs[:0] = batch.logs
            self._batch.flows[:0] = batch.flows
            self._batch.triggers[:0] = batch.triggers
            self._batch.deleted_executions[:0] = batch.deleted_executions
            self._batch.purged_logs[:0] = batch.purged_logs

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()


def flow_record(flow: Flow) -> FlowRecord:
    """What the search index keeps of a flow revision (a deletion hides the flow from flow searches)."""
    assert flow.revision is not None, "only stored revisions are indexed"
    return FlowRecord(namespace=flow.namespace, id=flow.id, revision=flow.revision, source=flow.source or "",
                      deleted=flow.deleted)
