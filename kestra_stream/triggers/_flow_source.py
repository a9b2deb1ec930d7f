"""Where ``FlowTriggers`` reads execution state changes from: a backend's listeners, or Kafka.

A ``StateSource`` hands every execution snapshot it reads to a ``deliver`` callback (on any
thread) as a ``Received``; the component calls ``Received.ack`` once the change has been
evaluated and its firings emitted.

- ``BackendStateSource`` (the embedded engine): ``backend.subscribe``; snapshots published while
  the component is stopped are not seen again, and acknowledging does nothing.
- ``KafkaStateSource``: a consumer of its own on the execution-state topic, assigned every
  partition (preconditions span flows whose executions land on different partitions), in a
  consumer group that is stable for the component's home. It starts from that group's committed
  offsets, and commits an offset only once everything before it was acknowledged: changes made
  while no component ran (a crash, a deploy) are evaluated at the next start. The very first
  start begins at the end offsets read then (history is not replayed) and commits them at once,
  so a crash before the first commit does not move the start later. Its blocking calls run on a
  thread of its own, never on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Protocol

import structlog
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message, TopicPartition

from kestra_stream.backend import Backend
from kestra_stream.errors import BackendError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, decode_state, watermarks

log = structlog.get_logger(__name__)

GROUP_FILE = "flow-triggers.group"


def _no_ack() -> None:
    return None


@dataclass(frozen=True)
class Received:
    """One record read by a source: its snapshot (None: nothing to evaluate, a tombstone) and its ack.

    The snapshot is decoded when first asked for: with no Flow trigger to evaluate, a record is
    acknowledged undecoded (decoding every snapshot was a large part of the webserver's work).
    """

    decode: Callable[[], ExecutionState | None]
    # When the change was published (Kafka: the record's timestamp), so that a change read again
    # after a restart keeps its own time in precondition windows; None: when it is received.
    at: datetime | None = None
    ack: Callable[[], None] = field(default=_no_ack)

    @classmethod
    def of(cls, state: ExecutionState | None) -> Received:
        return cls(lambda: state)

    @cached_property
    def state(self) -> ExecutionState | None:
        return self.decode()


Deliver = Callable[[Received], None]


class StateSource(Protocol):
    """Execution state changes for ``FlowTriggers``."""

    # True when what was not acknowledged is delivered again after a restart (Kafka).
    redelivers: bool

    async def start(self, deliver: Deliver) -> None: ...

    async def stop(self) -> None:
        """No more deliveries; what was acknowledged is recorded as done."""

    async def caught_up(self, timeout: float) -> None:  # noqa: ASYNC109
        """Return once every change published before the call was delivered and acknowledged."""


class BackendStateSource:
    """The snapshots a backend publishes to its listeners (``Backend.subscribe``), while started."""

    redelivers = False

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._deliver: Deliver | None = None
        self._subscribed = False

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        if not self._subscribed:  # a backend offers no unsubscribe: a restarted component subscribes once
            self._backend.subscribe(self._take)
            self._subscribed = True

    async def stop(self) -> None:
        self._deliver = None

    async def caught_up(self, timeout: float) -> None:  # noqa: ASYNC109
        # Listeners are called as snapshots are published: everything published was delivered.
        return None

    def _take(self, state: ExecutionState) -> None:
        deliver = self._deliver
        if deliver is not None:
            deliver(Received.of(state))


def flow_trigger_group_id(home: Path, settings: KafkaSettings) -> str:
    """The consumer group of the flow-trigger component living in ``home``: made once, kept in a file.

    A file rather than a name derived from the path: a home moved or mounted elsewhere keeps its
    offsets. Two homes never share a group, so each component sees every change.
    """
    path = home / GROUP_FILE
    try:
        if path.exists():
            stored = path.read_text().strip()
            if stored:
                return stored
        home.mkdir(parents=True, exist_ok=True)
        base = settings.topic_prefix.rstrip("._-") or "kestra-stream"
        group_id = f"{base}-flow-triggers-{uuid.uuid4().hex[:12]}"
        partial = path.with_suffix(".tmp")
        partial.write_text(group_id + "\n")
        partial.replace(path)  # atomic: a crash never leaves an empty or half-written group file
    except OSError as exc:
        raise BackendError(f"cannot read or write the flow-trigger group file {path}: {exc}; "
                           f"check that {home} is writable, or set the group id explicitly") from exc
    return group_id


class _Run:
    """One started consumer: its thread, what was acknowledged and what was committed."""

    def __init__(self, consumer: Consumer, starts: dict[int, int], topic: str, max_in_flight: int) -> None:
        self.consumer = consumer
        self.topic = topic
        self.lock = threading.Lock()
        self.acked = dict(starts)      # partition -> next offset whose predecessors were all evaluated
        self.committed = dict(starts)
        self.slots = threading.Semaphore(max_in_flight)
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def ack(self, partition: int, offset: int) -> None:
        # Snapshots are evaluated in the order they were read, so this offset's predecessors are done.
        with self.lock:
            if offset + 1 > self.acked.get(partition, 0):
                self.acked[partition] = offset + 1
        self.slots.release()

    def positions(self) -> dict[int, int]:
        with self.lock:
            return dict(self.acked)


class KafkaStateSource:
    """Execution snapshots from the execution-state topic, resuming at the group's committed offsets."""

    redelivers = True

    def __init__(self, settings: KafkaSettings, *, home: Path, group_id: str | None = None,
                 max_in_flight: int = 1000, commit_interval_seconds: float = 0.5) -> None:
        """``group_id`` defaults to one made for ``home`` (``flow_trigger_group_id``); ``max_in_flight``
        bounds the records read but not yet acknowledged (a long backlog after a restart is read as
        fast as it is evaluated, not into memory)."""
        if max_in_flight < 1 or commit_interval_seconds <= 0:
            raise BackendError(f"flow-trigger source: max_in_flight ({max_in_flight}) must be at least 1 and "
                               f"commit_interval_seconds ({commit_interval_seconds}) above 0")
        self.settings = settings
        self.group_id = group_id or flow_trigger_group_id(home, settings)
        self._max_in_flight = max_in_flight
        self._commit_interval = commit_interval_seconds
        self._topic = settings.topic("executions")
        self._run: _Run | None = None
        self._probe: Consumer | None = None
        self._probe_lock = threading.Lock()

    def _config(self, group_id: str) -> dict[str, object]:
        # "earliest" only applies when a committed offset fell out of the log (retention): resume at
        # the oldest record rather than skip. A group's first start sets its offsets explicitly.
        return self.settings.client_config(**{"group.id": group_id, "enable.auto.commit": False,
                                              "auto.offset.reset": "earliest"})

    async def start(self, deliver: Deliver) -> None:
        consumer = Consumer(self._config(self.group_id))
        try:
            starts = await asyncio.to_thread(self._starts, consumer)
        except BaseException:
            await asyncio.to_thread(consumer.close)
            raise
        run = _Run(consumer, starts, self._topic, self._max_in_flight)
        consumer.assign([TopicPartition(self._topic, p, offset) for p, offset in starts.items()])
        run.thread = threading.Thread(target=self._follow, args=(run, deliver), name="flow-trigger-source",
                                      daemon=True)
        self._run = run
        run.thread.start()
        log.info("flow_trigger_source_started", topic=self._topic, group_id=self.group_id, offsets=starts)

    def _starts(self, consumer: Consumer) -> dict[int, int]:
        """Where to start on each partition: the committed offset, or (first start) the end offset now."""
        timeout = self.settings.connect_timeout_seconds
        try:
            metadata = consumer.list_topics(self._topic, timeout)
        except KafkaException as exc:
            raise BackendError(f"Kafka at {self.settings.bootstrap_servers} is not reachable: {exc}") from exc
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise BackendError(f"topic {self._topic!r} does not exist: run `kestra-stream topics apply`")
        partitions = [TopicPartition(self._topic, p) for p in sorted(topic.partitions)]
        try:
            committed = consumer.committed(partitions, timeout=timeout)
        except KafkaException as exc:
            raise BackendError(f"cannot read the committed offsets of group {self.group_id!r} on "
                               f"{self._topic}: {exc}") from exc
        starts: dict[int, int] = {}
        fresh: list[TopicPartition] = []
        for tp in committed:
            if tp.offset >= 0:
                starts[tp.partition] = tp.offset
            else:
                starts[tp.partition] = watermarks(consumer, tp, timeout)[1]
                fresh.append(TopicPartition(self._topic, tp.partition, starts[tp.partition]))
        if fresh:
            try:
                consumer.commit(offsets=fresh, asynchronous=False)
            except KafkaException as exc:
                raise BackendError(f"cannot commit the first offsets of group {self.group_id!r} on "
                                   f"{self._topic}: {exc}") from exc
        return starts

    def _follow(self, run: _Run, deliver: Deliver) -> None:
        last_commit = time.monotonic()
        try:
            while not run.stop.is_set():
                if time.monotonic() - last_commit >= self._commit_interval:
                    self._commit(run)
                    last_commit = time.monotonic()
                if not run.slots.acquire(timeout=0.1):
                    continue  # as many records in flight as allowed: wait for acknowledgements
                message = run.consumer.poll(0.1)
                received = self._received(run, message)
                if received is None:
                    run.slots.release()
                    continue
                deliver(received)
        except Exception:
            log.exception("flow_trigger_source_failed", topic=self._topic, group_id=self.group_id)
        finally:
            self._commit(run)
            run.consumer.close()

    def _received(self, run: _Run, message: Message | None) -> Received | None:
        if message is None:
            return None
        error = message.error()
        partition, offset = message.partition(), message.offset()
        if error is not None or partition is None or offset is None:
            if error is not None:
                log.warning("flow_trigger_source_read_failed", topic=self._topic, error=str(error))
            return None
        value = message.value()

        def decode() -> ExecutionState | None:
            if value is None:  # a deleted execution's tombstone
                return None
            try:
                return decode_state(value)
            except ValueError as exc:  # pydantic's ValidationError and the wire format's UnreadableRecord
                log.error("flow_trigger_source_unreadable_record", topic=self._topic, partition=partition,
                          offset=offset, error=str(exc))
                return None

        kind, millis = message.timestamp()
        at = None if kind == TIMESTAMP_NOT_AVAILABLE else datetime.fromtimestamp(millis / 1000, UTC)
        return Received(decode, at, lambda: run.ack(partition, offset))

    def _commit(self, run: _Run) -> None:
        positions = run.positions()
        changed = {p: o for p, o in positions.items() if run.committed.get(p) != o}
        if not changed:
            return
        try:
            run.consumer.commit(offsets=[TopicPartition(self._topic, p, o) for p, o in changed.items()],
                                asynchronous=False)
        except KafkaException as exc:
            # Retried at the next interval; until then a restart would only evaluate those changes again.
            log.warning("flow_trigger_source_commit_failed", group_id=self.group_id, error=str(exc))
            return
        with run.lock:
            run.committed.update(changed)

    async def stop(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.stop.set()
            if run.thread is not None:
                await asyncio.to_thread(run.thread.join, self.settings.connect_timeout_seconds + 5)
        probe, self._probe = self._probe, None
        if probe is not None:
            await asyncio.to_thread(probe.close)
        log.info("flow_trigger_source_stopped", topic=self._topic, group_id=self.group_id,
                 committed=run.committed if run is not None else {})

    async def caught_up(self, timeout: float) -> None:  # noqa: ASYNC109
        run = self._run
        if run is None:
            raise BackendError("the flow-trigger source is not started: start FlowTriggers before waiting on it")
        ends = await asyncio.to_thread(self._ends, list(run.positions()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            positions = run.positions()
            behind = {p: end for p, end in ends.items() if positions.get(p, 0) < end}
            if not behind:
                return
            if loop.time() > deadline:
                raise BackendError(f"flow triggers did not catch up with {self._topic} within {timeout}s: "
                                   f"at {positions}, end offsets {ends}")
            await asyncio.sleep(0.02)

    def _ends(self, partitions: list[int]) -> dict[int, int]:
        with self._probe_lock:
            if self._probe is None:
                # A handle of its own: the source's consumer belongs to its thread.
                self._probe = Consumer(self._config(f"{self.group_id}-probe"))
            timeout = self.settings.connect_timeout_seconds
            return {p: watermarks(self._probe, TopicPartition(self._topic, p), timeout)[1] for p in partitions}
