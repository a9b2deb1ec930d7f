"""Creating, commanding and following executions on Kafka: what a CLI or an API does as a client.

Requests are events produced to the executor topic; what happened is read back from the
executions topic (state snapshots) and the logs topic, followed from the moment the client
starts. A client built with ``follow=False`` (a worker process's) reads neither topic: it sends
requests, reading an execution's latest snapshot back from the executions topic when a request
needs it, and holds nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kestra_stream.errors import BackendError, TaskFailure
from kestra_stream.executor._requests import AcceptsRequests, ExecutionRequests
from kestra_stream.executor.events import (
    Event,
)
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.runtime import FlowInjection
from kestra_stream.kafka._codec import decode_log, decode_state, encode_event
from kestra_stream.kafka._delivery import AwaitedProducer
from kestra_stream.kafka._flows import KafkaFlowStore
from kestra_stream.kafka._settings import KafkaSettings, watermarks
from kestra_stream.kafka._snapshots import latest_snapshot
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.storage import Storage


def _now() -> datetime:
    return datetime.now(UTC)


class KafkaExecutions(AcceptsRequests):
    def __init__(self, settings: KafkaSettings, flows: KafkaFlowStore, *, storage: Storage | None = None,
                 envs: Mapping[str, str] | None = None, globals_: Mapping[str, Any] | None = None,
                 follow: bool = True, templates: FlowInjection | None = None) -> None:
        self._settings = settings
        self.follows = follow
        self._producer = AwaitedProducer(settings.producer_config(), name="executions-client-deliveries")
        self._states: dict[str, ExecutionState] = {}
        self._logs: dict[str, list[LogEntry]] = {}
        self._waiters: dict[str, list[asyncio.Future[Execution]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._probe: Consumer | None = None
        self._log_partitions: list[TopicPartition] = []
        self._partitions: list[TopicPartition] = []
        self._following_since: datetime | None = None
        self._positions: dict[tuple[str, int], int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[ExecutionState], None]] = []
        self._log_listeners: list[Callable[[list[LogEntry]], None]] = []
        self._superseded: set[str] = set()  # ended, then restarted: that end is not the outcome any more
        # Ended executions, oldest end first, with when they ended (monotonic): the client forgets them after
        # the settings' grace, so it holds what is in flight, not history; ``load`` reads them back.
        self._ended: dict[str, float] = {}
        # FILE inputs are uploaded to ``storage``; without one a local file is refused.
        self.requests = ExecutionRequests(self._send, flows, self.state, storage=storage, envs=envs or {},
                                          globals_=globals_ or {}, restarted=self._supersede, load=self.load,
                                          templates=templates)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.follows:
            return
        consumer = Consumer(self._settings.client_config(**{
            "group.id": f"kestra-stream-client-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        # A second handle only reads end offsets: a consumer is not to be shared between threads.
        self._probe = Consumer(self._settings.client_config(**{
            "group.id": f"kestra-stream-probe-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        partitions: list[TopicPartition] = []
        for logical in ("executions", "logs"):
            name = self._settings.topic(logical)
            try:
                metadata = await asyncio.to_thread(consumer.list_topics, name, self._settings.connect_timeout_seconds)
            except KafkaException as exc:
                raise BackendError(f"Kafka at {self._settings.bootstrap_servers} is not reachable: {exc}") from exc
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                raise BackendError(f"topic {name!r} does not exist: run `kestra-stream topics apply`")
            partitions += [TopicPartition(name, p) for p in topic.partitions]
            if logical == "logs":
                self._log_partitions = [TopicPartition(name, p) for p in topic.partitions]
        # Start at the end offsets read now, explicitly: a lazily resolved "end" could be taken after
        # this client's first execution already wrote its states, which would then never be seen.
        ends = await asyncio.to_thread(self._ends, partitions)
        consumer.assign([TopicPartition(tp.topic, tp.partition, ends[(tp.topic, tp.partition)]) for tp in partitions])
        self._positions.update(ends)
        self._partitions = partitions
        # Every record of an execution created from now on lies past these ends: this client sees all of them.
        self._following_since = _now()
        self._consumer = consumer
        self._thread = threading.Thread(target=self._follow, name="executions-client", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        await self._producer.close(5)

    def _follow(self) -> None:
        assert self._consumer is not None
        executions = self._settings.topic("executions")
        try:
            while not self._stop.is_set():
                message = self._consumer.poll(0.1)
                value = message.value() if message is not None and message.error() is None else None
                if message is None or value is None:
                    with self._lock:
                        self._forget_ended()  # also when nothing arrives: memory follows what is in flight
                    continue
                offset, topic_name, partition = message.offset(), message.topic(), message.partition()
                if offset is not None and topic_name is not None and partition is not None:
                    with self._lock:
                        self._positions[(topic_name, partition)] = offset + 1
                if message.topic() == executions:
                    self._take_state(decode_state(value))
                else:
                    entry = decode_log(value)
                    with self._lock:
                        self._logs.setdefault(entry.execution_id, []).append(entry)
                        log_listeners = list(self._log_listeners)
                    for log_listener in log_listeners:
                        log_listener([entry])
        finally:
            self._consumer.close()
            if self._probe is not None:
                self._probe.close()

    def _take_state(self, state: ExecutionState) -> None:
        execution = state.execution
        with self._lock:
            # Snapshots of one execution are keyed alike, so they share a partition and arrive in order.
            self._states[execution.id] = state
            listeners = list(self._listeners)
            if not state.finished:
                self._superseded.discard(execution.id)
            done = state.finished and execution.id not in self._superseded
            waiters = self._waiters.pop(execution.id, []) if done else []
            self._ended.pop(execution.id, None)
            if state.finished:
                self._ended[execution.id] = time.monotonic()
            self._forget_ended()
        for listener in listeners:
            listener(state)
        if waiters and self._loop is not None:
            for waiter in waiters:
                self._loop.call_soon_threadsafe(_resolve, waiter, execution)

    def _forget_ended(self) -> None:
        """Drop what ended more than the grace ago (the lock is held): states, their logs, their marks."""
        horizon = time.monotonic() - self._settings.ended_grace_seconds
        while self._ended:
            execution_id, ended_at = next(iter(self._ended.items()))
            if ended_at > horizon:
                return
            del self._ended[execution_id]
            if execution_id in self._waiters:
                continue  # someone still waits for its next end (restarted, not followed yet): keep it
            self._states.pop(execution_id, None)
            self._logs.pop(execution_id, None)
            self._superseded.discard(execution_id)

    def held(self) -> int:
        """Executions this client holds in memory: in flight, or ended within the grace."""
        with self._lock:
            return len(self._states)

    # ----- requests --------------------------------------------------------------------------------
    async def _send(self, event: Event) -> None:
        delivery = await self._producer.send(self._settings.topic("executor"), event.execution_id.encode(),
                                             encode_event(event), self._settings.connect_timeout_seconds)
        if delivery.error is not None:
            raise BackendError(f"request for execution {event.execution_id} was not delivered: {delivery.error}",
                               execution_id=event.execution_id)

    async def delete_execution(self, execution_id: str) -> int | None:
        """A tombstone on the executions topic (compaction then drops its snapshots) and this client forgets it.

        Returns the deletion's version: the tombstone's offset + 1, above every snapshot's version
        (snapshots of one execution share its partition); None when the broker did not report it in time.
        The executor's own table and the logs topic (retention-based) are left as they are: an
        ended execution is never read from them again.
        """
        with self._lock:
            self._states.pop(execution_id, None)
            self._logs.pop(execution_id, None)
            self._ended.pop(execution_id, None)
        delivery = await self._producer.send(self._settings.topic("executions"), execution_id.encode(), None,
                                             self._settings.connect_timeout_seconds)
        if delivery.error is not None:
            raise BackendError(f"deleting execution {execution_id} was not delivered: {delivery.error}",
                               execution_id=execution_id)
        return None if delivery.offset is None else delivery.offset + 1

    def _supersede(self, execution_id: str) -> None:
        with self._lock:
            # The ended snapshot is no longer the execution's outcome: wait() waits for the next end.
            self._superseded.add(execution_id)

    def subscribe(self, listener: Callable[[ExecutionState], None]) -> None:
        """Called, from the client's thread, with every snapshot read."""
        self._listeners.append(listener)

    def subscribe_logs(self, listener: Callable[[list[LogEntry]], None]) -> None:
        """Called, from the client's thread, with the log lines read, as they are read."""
        with self._lock:
            self._log_listeners.append(listener)

    # ----- reading ---------------------------------------------------------------------------------
    def state(self, execution_id: str) -> ExecutionState | None:
        with self._lock:
            return self._states.get(execution_id)

    async def load(self, execution_id: str) -> ExecutionState | None:
        """The execution's state, read from the start of the executions topic if this client has not seen it.

        A client follows executions from the moment it starts; a command on an execution created
        before (``kestra-stream execution resume`` from another shell) needs its state first.
        """
        if (state := self.state(execution_id)) is not None:
            return state
        found = await asyncio.to_thread(latest_snapshot, self._settings, execution_id)
        if not self.follows:
            return found  # not kept: nothing would forget it, and a client that does not follow holds nothing
        with self._lock:
            if found is not None and execution_id not in self._states:  # a snapshot followed meanwhile is newer
                self._states[execution_id] = found
            return self._states.get(execution_id)

    async def wait(self, execution_id: str, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        """The execution once it has finished, with every log line written before its end read too."""
        assert self._loop is not None
        if not self.follows:
            raise BackendError(f"execution {execution_id} cannot be waited for: this client does not follow the "
                               "executions topic", execution_id=execution_id)
        with self._lock:
            state = self._states.get(execution_id)
            future: asyncio.Future[Execution] = self._loop.create_future()
            if state is not None and state.finished and execution_id not in self._superseded:
                future.set_result(state.execution)
            else:
                self._waiters.setdefault(execution_id, []).append(future)
        execution = await asyncio.wait_for(future, timeout)
        # Log lines travel on their own topic; they were written before the final snapshot, so reading
        # up to the end offsets as they are now is enough to have them all.
        await self._read_up_to(await asyncio.to_thread(self._ends, self._log_partitions))
        return execution

    def _ends(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        assert self._probe is not None
        timeout = self._settings.connect_timeout_seconds
        return {(tp.topic, tp.partition): watermarks(self._probe, tp, timeout)[1] for tp in partitions}

    async def _read_up_to(self, ends: dict[tuple[str, int], int]) -> None:
        while True:
            with self._lock:
                behind = [key for key, end in ends.items() if end > 0 and self._positions.get(key, 0) < end]
            if not behind:
                return
            await asyncio.sleep(0.01)

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        """``TaskServices`` for a worker in this process: an execution's log lines, all written before this call.

        A worker acknowledges an attempt's log lines before its result, so once this client has read up
        to the topics' current end offsets it holds every line of the tasks that ended. It only holds
        the executions created since it started and not forgotten after their end.
        """
        if self._probe is None or self._following_since is None:
            raise TaskFailure("the executions client of this process has not started: the logs cannot be read yet")
        await self._read_up_to(await asyncio.to_thread(self._ends, self._partitions))
        with self._lock:
            state = self._states.get(execution_id)
            if state is not None and state.execution.state.start_date >= self._following_since:
                return sorted(self._logs.get(execution_id, []), key=lambda e: e.timestamp)
        raise TaskFailure(f"execution {execution_id} is not followed by this process (it started before the "
                          f"process did, ended more than {self._settings.ended_grace_seconds:g} s ago, or does "
                          "not exist): on Kafka a task reads the logs of the executions in flight only")

    def logs(self, execution_id: str) -> list[LogEntry]:
        """The log lines of an execution read so far (all of them once ``wait`` returned)."""
        with self._lock:
            return sorted(self._logs.get(execution_id, []), key=lambda e: e.timestamp)


def _resolve(future: asyncio.Future[Execution], execution: Execution) -> None:
    if not future.done():
        future.set_result(execution)
