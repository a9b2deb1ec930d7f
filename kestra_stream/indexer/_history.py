"""The history of executions on Kafka: Elasticsearch as the indexer keeps it.

A task asks once the indexer has indexed the executions and logs topics up to where they end when
it asks (its consumer group's committed offsets), so it sees every execution and line written
before it, as a task on the embedded engine does. An execution is purged as the API deletes one:
a tombstone on the executions topic (the indexer and every client forget it) and its documents.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kestra_stream.errors import BackendError
from kestra_stream.indexer._kafka import IndexerSettings
from kestra_stream.kafka import KafkaExecutions, KafkaSettings, KafkaStack, watermarks
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.search import (
    CountQuery,
    ElasticsearchRepository,
    ExecutionPurge,
    FlowExecutions,
    LogPurge,
    execution_logs,
)
from kestra_stream.worker.history import History


def use_indexed_history(stack: KafkaStack, repository: ElasticsearchRepository, *,
                        group_id: str = IndexerSettings().group_id) -> None:
    """Give the tasks of ``stack``'s worker the history in ``repository``, kept by the indexer of ``group_id``.

    A stack that does not follow the executions topic (a worker process) also reads log lines there;
    one that follows it has the lines of the executions in flight at hand, without waiting for the indexer.
    """
    indexed = IndexedHistory(stack.settings, repository, stack.executions, group_id=group_id)
    stack.services.use_history(History(indexed, stack.storage))
    if not stack.executions.follows:
        stack.services.use_logs(indexed)


class IndexedHistory:
    """``HistoryStore`` on Elasticsearch, read once the indexer of ``group_id`` has caught up."""

    def __init__(self, settings: KafkaSettings, repository: ElasticsearchRepository, executions: KafkaExecutions,
                 *, group_id: str = IndexerSettings().group_id, catch_up_seconds: float = 120.0) -> None:
        self._settings = settings
        self._repository = repository
        self._executions = executions
        self._group_id = group_id
        self._catch_up_seconds = catch_up_seconds

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        await self._caught_up()
        return await asyncio.to_thread(self._repository.count_executions, query)

    async def ended_executions(self, purge: ExecutionPurge) -> list[Execution]:
        await self._caught_up()
        return await asyncio.to_thread(self._repository.ended_executions, purge)

    async def delete_logs(self, purge: LogPurge) -> int:
        await self._caught_up()
        return await asyncio.to_thread(self._repository.delete_logs, purge)

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        """Every line of the execution written before this call: of one in flight or ended long ago."""
        await self._caught_up()
        return await asyncio.to_thread(execution_logs, self._repository, execution_id)

    async def delete_execution(self, execution_id: str) -> None:
        version = await self._executions.delete_execution(execution_id)
        await asyncio.to_thread(partial(self._repository.delete_execution, execution_id, version=version))

    async def _caught_up(self) -> None:
        await asyncio.to_thread(self._wait_indexed)
        await asyncio.to_thread(self._repository.refresh)

    def _wait_indexed(self) -> None:
        # Reading the group's committed offsets does not join the group: the indexer is left alone.
        consumer = Consumer(self._settings.client_config(**{"group.id": self._group_id,
                                                            "enable.auto.commit": False}))
        timeout = self._settings.connect_timeout_seconds
        try:
            partitions = [TopicPartition(topic, p) for topic in (self._settings.topic("executions"),
                                                                 self._settings.topic("logs"))
                          for p in sorted(consumer.list_topics(topic, timeout).topics[topic].partitions)]
            ends = {(tp.topic, tp.partition): watermarks(consumer, tp, timeout)[1] for tp in partitions}
            deadline = time.monotonic() + self._catch_up_seconds
            while True:
                committed = consumer.committed(partitions, timeout)
                behind = [f"{tp.topic}[{tp.partition}]" for tp in committed
                          if ends[(tp.topic, tp.partition)] > 0 and tp.offset < ends[(tp.topic, tp.partition)]]
                if not behind:
                    return
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"Elasticsearch ({self._repository.prefix}-*) is behind the topics: the indexer (consumer "
                        f"group '{self._group_id}') did not index {', '.join(behind)} within "
                        f"{self._catch_up_seconds:g} s; run `kestra-stream indexer` with this Elasticsearch and "
                        "index prefix (`server standalone` runs one)")
                time.sleep(0.2)
        except KafkaException as exc:
            raise BackendError(f"cannot read the indexer's progress on {self._settings.bootstrap_servers}: "
                               f"{exc}") from exc
        finally:
            consumer.close()
