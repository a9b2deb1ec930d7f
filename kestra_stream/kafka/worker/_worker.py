"""The Kafka worker: a consumer group on the jobs topic running task attempts concurrently.

At least once, and never past an unfinished job: a job's offset is marked finished only once
its log lines and its TaskResult are acknowledged by the broker, and a partition's commit
point only moves over finished jobs (``OffsetBook``). A job that was started but not finished
when its partition moved, or when this worker died, is delivered again to whoever holds the
partition next; the executor ignores a second result of one attempt.

Threads: the consumer lives on one dedicated thread (librdkafka calls the rebalance callbacks
from inside ``consume``, so they run there too); the producer's delivery reports on another;
the kill listener on a third. Attempts run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from pydantic import ValidationError

from kestra_stream.errors import BackendError
from kestra_stream.executor.commands import KillTask, RunTask
from kestra_stream.executor.events import TaskResult
from kestra_stream.executor.runtime import OutageLog, SystemClock
from kestra_stream.executor.wire import UnreadableRecord
from kestra_stream.executor.worker_groups import takes
from kestra_stream.ids import derive_id
from kestra_stream.kafka._codec import decode_job, encode_event, encode_log
from kestra_stream.kafka._limits import LOG_LINE_FIX, OUTPUTS_FIX, broker_takes_what_fits, fits, too_large
from kestra_stream.kafka._settings import KafkaSettings
from kestra_stream.kafka.worker._heartbeat import WorkerHeartbeat, default_worker_id, encode_heartbeat
from kestra_stream.kafka.worker._kills import KillListener
from kestra_stream.kafka.worker._offsets import OffsetBook, PartitionOffsets
from kestra_stream.kafka.worker._producer import DeliveringProducer, Delivery, RecordRefused
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel
from kestra_stream.storage import Storage
from kestra_stream.waiting import wait_set
from kestra_stream.worker import attempt_failed, run_attempt
from kestra_stream.worker.services import TaskServices, Unavailable

log = structlog.get_logger(__name__)

Position = tuple[PartitionOffsets, int]
# How often a running worker commits the jobs finished since: a commit is a request to the broker,
# and one per job cost the worker and the broker CPU at every rate. A crash runs at most this much
# finished work again (the executor ignores a second result of an attempt); a stop or a revocation
# commits at once.
COMMIT_SECONDS = 1.0


def _failed(result: TaskResult, message: str) -> TaskResult:
    """The attempt ends FAILED with ``message`` (logged by the executor) and without its outputs."""
    return result.model_copy(update={"state": StateType.FAILED, "outputs": None, "labels": None,
                                     "message": message})


@dataclass(eq=False)
class _Running:
    job: RunTask
    positions: list[Position]  # a job redelivered while it still runs here waits on this one run
    task: asyncio.Task[None] | None = None
    logs: list[Delivery] = field(default_factory=list)
    killed: bool = False
    refused: str | None = None  # why the attempt must end FAILED whatever the task did (a log line too large)


class KafkaWorker:
    """Runs the jobs of its consumer group (``settings.worker_consumer_group``); scale by starting more.

    Worker groups (``settings.worker_group_key``, a flow's or task's ``workerGroup``): every worker group
    key is a consumer group of its own on the one jobs topic, and a worker skips (finishes unrun) the jobs
    of other keys. Not a jobs topic per key: topics are declared ahead in topics.yaml and created by
    ``topics apply``, while keys are free text a flow names at any time; a job waiting for a group whose
    first worker has not started yet is read by that group's new consumer group from the start of the
    topic (``auto.offset.reset`` earliest), which is how WAIT is kept. Each group reads every job: cheap
    next to running them, at the few groups a deployment has.
    """

    def __init__(self, settings: KafkaSettings, *, storage: Storage, workdir_root: Path,
                 concurrency: int | None = None, worker_id: str | None = None,
                 heartbeat_interval: float = 3.0, services: TaskServices | None = None) -> None:
        self.settings = settings
        # Built bare (not through KafkaStack), a worker follows no executions: the tasks that read them say so.
        self._services = services or Unavailable(
            "this worker follows no executions (it runs without the executions client of a Kafka stack); "
            "run it with `kestra-stream worker`, `server standalone --backend kafka` or `execute --backend kafka`")
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency or settings.worker_concurrency
        if self.concurrency < 1:
            raise BackendError(f"worker concurrency must be at least 1, got {self.concurrency}")
        self._storage = storage
        self._workdir_root = workdir_root
        self._heartbeat_interval = heartbeat_interval
        self._jobs_topic = settings.topic("jobs")
        self.group_key = settings.worker_group_key or None
        self.consumer_group = settings.worker_consumer_group
        self._book = OffsetBook()
        self._running: dict[str, _Running] = {}
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._reassigned = False  # set by the rebalance callback: the consume loop re-applies pause or resume
        self._started = False
        self._closed = False
        self._loops: list[asyncio.Task[None]] = []
        self._consumer: Consumer | None = None
        self._consumer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.worker_id}-jobs")
        self._producer: DeliveringProducer | None = None
        self._kills: KillListener | None = None
        self.jobs_done = 0
        self._log = log.bind(worker_id=self.worker_id)
        self._result_outage = OutageLog("worker_result_delivery", SystemClock(), logger=self._log)
        self._log_outage = OutageLog("worker_log_delivery", SystemClock(), logger=self._log)

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._workdir_root.mkdir(parents=True, exist_ok=True)
        self._producer = DeliveringProducer(self.settings, client_id=self.worker_id)
        self._kills = KillListener(self.settings, worker_id=self.worker_id, on_kill=self._kill)
        await self._kills.start()
        # Rebalances reach members on their next heartbeat, and a dead worker's jobs move only after
        # its session times out: both shorter than librdkafka's defaults (3 s, 45 s), unless configured.
        timing = {"heartbeat.interval.ms": 1000, "session.timeout.ms": 10000}
        self._consumer = Consumer(self.settings.client_config(**{
            **timing, **{k: v for k, v in self.settings.client.items() if k in timing},
            "group.id": self.consumer_group, "client.id": self.worker_id,
            "enable.auto.commit": False, "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
            # Cooperative: adding a worker moves only some partitions, the others keep running untouched.
            "partition.assignment.strategy": "cooperative-sticky",
            # A fetch held by the broker delays the next one (after a resume, a new assignment): keep it short.
            "fetch.wait.max.ms": 100,
            "on_commit": self._on_commit,
        }))
        await self._in_consumer(self._consumer.subscribe, [self._jobs_topic],
                                self._on_assign, self._on_revoke, self._on_lost)
        self._loops = [asyncio.create_task(self._consume_loop(), name=f"{self.worker_id}-consume"),
                       asyncio.create_task(self._heartbeat_loop(), name=f"{self.worker_id}-heartbeat")]
        self._log.info("kafka_worker_started", group=self.consumer_group, topic=self._jobs_topic,
                       worker_group=self.group_key, concurrency=self.concurrency)

    async def stop(self, grace: float = 30.0) -> None:
        """Stop taking jobs, let running ones finish for ``grace`` seconds (then cancel them), commit, close.

        Cancelled jobs are not committed: the group delivers them again to another worker.
        """
        if self._closed or not self._started:
            return
        self._closed = True
        self._stopping = True
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        tasks = [*(r.task for r in self._running.values() if r.task is not None), *self._side_tasks]
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._commit(asynchronous=False)
        if self._consumer is not None:
            # close() revokes the assignment, which commits again through _on_revoke: harmless.
            await self._in_consumer(self._consumer.close)
        self._consumer_thread.shutdown(wait=True)
        if self._kills is not None:
            await self._kills.stop()
        if self._producer is not None:
            with contextlib.suppress(BackendError):
                await self._producer.deliver(self.settings.topic("heartbeats"), self.worker_id, None)
            await self._producer.close()
        self._stop_requested.set()
        self._log.info("kafka_worker_stopped", jobs_done=self.jobs_done)

    async def run_until_stopped(self) -> None:
        """Start, then run until ``stop()``; cancelled, it stops at once (grace 0) and re-raises."""
        await self.start()
        waiter = asyncio.create_task(self._stop_requested.wait())
        try:
            done, _ = await asyncio.wait([waiter, *self._loops], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            waiter.cancel()
            await self.stop(grace=0)
            raise
        waiter.cancel()
        for task in done:
            if task is not waiter and not task.cancelled() and task.exception() is not None:
                error = task.exception()
                await self.stop(grace=0)
                raise BackendError(f"worker {self.worker_id} failed: {error}") from error
        await self._stop_requested.wait()

    async def __aenter__(self) -> KafkaWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running_jobs(self) -> list[str]:
        return sorted(self._running)

    @property
    def assigned_partitions(self) -> list[int]:
        return sorted(partition for _topic, partition in self._book.partitions())

    # ----- consuming ---------------------------------------------------------------------------
    async def _consume_loop(self) -> None:
        assert self._consumer is not None
        paused = False
        commit_due = 0.0
        while not self._stopping:
            if time.monotonic() >= commit_due:
                commit_due = time.monotonic() + COMMIT_SECONDS
                await self._commit(asynchronous=True)
            if len(self._running) >= self.concurrency:
                self._slot_freed.clear()
                if len(self._running) >= self.concurrency:
                    await wait_set(self._slot_freed, 1.0)
                if len(self._running) < self.concurrency:
                    continue
                # Still full: pause, so polling (rebalances, max.poll.interval) hands out nothing. Only
                # then, because pausing drops the prefetched records and resuming costs a fetch round.
                if not paused or self._reassigned:
                    self._reassigned = False
                    await self._in_consumer(self._pause)
                    paused = True
                messages = await self._in_consumer(self._consumer.consume, 1, 0)
            else:
                # librdkafka keeps a partition's pause across its loss and re-assignment, and resumes only
                # what is assigned: partitions lost while paused (a broker outage) and assigned again after
                # the resume would stay paused for good. Whatever was assigned since is set to the mode.
                if paused or self._reassigned:
                    self._reassigned = False
                    await self._in_consumer(self._resume)
                    paused = False
                messages = await self._in_consumer(self._take, self.concurrency - len(self._running))
            for message in messages:
                self._receive(message)

    def _take(self, count: int) -> list[Message]:
        """Up to ``count`` records: wait for the first one only, then take what is already fetched."""
        assert self._consumer is not None
        first = self._consumer.consume(1, 0.25)
        if not first or count == 1:
            return first
        return first + self._consumer.consume(count - 1, 0)

    def _pause(self) -> None:
        assert self._consumer is not None
        self._consumer.pause(self._consumer.assignment())

    def _resume(self) -> None:
        assert self._consumer is not None
        self._consumer.resume(self._consumer.assignment())

    def _receive(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self._log.warning("jobs_topic_error", error=error.str())
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        book = self._book.started(topic, partition, offset)
        if book is None:  # the partition moved away while the message was on its way
            return
        position = (book, offset)
        value = message.value() or b""
        try:
            job = decode_job(value)
        except UnreadableRecord as exc:
            self._unreadable(position, value, exc)
            return
        if not takes(self.group_key, job):  # another worker group's job (or of no group, for a grouped worker)
            self._book.finished(book, offset)
            return
        if self._kills is not None and self._kills.was_killed(job.job_id):
            self._log.info("job_already_killed", job_id=job.job_id)
            self._book.finished(book, offset)
            return
        running = self._running.get(job.job_id)
        if running is not None:
            running.positions.append(position)
            return
        running = _Running(job=job, positions=[position])
        self._running[job.job_id] = running
        running.task = asyncio.create_task(self._run(running), name=job.job_id)

    def _unreadable(self, position: Position, value: bytes, exc: UnreadableRecord) -> None:
        """A job this worker cannot read still ends its attempt, FAILED, so the execution goes on."""
        try:
            raw = json.loads(value)
            result = TaskResult(event_id=derive_id("result", f"{raw['taskrun_id']}:{raw['attempt']}"),
                                execution_id=raw["execution_id"], at=datetime.now(UTC),
                                taskrun_id=raw["taskrun_id"], attempt=raw["attempt"], state=StateType.FAILED,
                                message=f"worker {self.worker_id} cannot read this job: {exc}",
                                worker_id=self.worker_id)
        except (ValueError, KeyError, TypeError, ValidationError):
            self._log.error("job_record_unreadable", offset=position[1], error=str(exc))
            self._book.finished(*position)
            return
        self._log.error("job_unreadable", execution_id=result.execution_id, taskrun_id=result.taskrun_id,
                        error=str(exc))
        task = asyncio.create_task(self._publish(result, [position], []))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # ----- running -------------------------------------------------------------------------------
    async def _run(self, running: _Running) -> None:
        job = running.job
        try:
            try:
                result = await run_attempt(job, emit_log=self._log_sender(running), storage=self._storage,
                                           workdir_root=self._workdir_root, services=self._services)
            except Exception as exc:
                # Around the task itself (its work directory, its context): the attempt still ends.
                self._log.exception("attempt_not_run", execution_id=job.execution_id, taskrun_id=job.taskrun_id)
                result = attempt_failed(job, f"worker {self.worker_id} failed around this attempt: "
                                             f"{type(exc).__name__}: {exc}")
            result = result.model_copy(update={"worker_id": self.worker_id})  # kept on the attempt
            await self._publish(result, running.positions, running.logs, running.refused)
        except asyncio.CancelledError:
            if running.killed:
                # The executor ended this attempt when it asked for the kill: no result, but done.
                self._finish(running.positions)
            raise
        finally:
            self._running.pop(job.job_id, None)
            self._slot_freed.set()

    def _log_sender(self, running: _Running) -> Callable[[LogEntry], None]:
        assert self._producer is not None
        producer, topic = self._producer, self.settings.topic("logs")

        def send(entry: LogEntry) -> None:
            value = encode_log(entry)
            if not fits(self.settings, entry.execution_id, value):
                # The line cannot travel; the attempt fails saying so, and a short line takes its place.
                running.refused = running.refused or too_large("A log line", len(value), self.settings,
                                                               LOG_LINE_FIX)
                value = encode_log(entry.model_copy(update={
                    "level": LogLevel.ERROR, "message": f"[a log line of {len(value):,} bytes was dropped: "
                                                        f"above the {self.settings.max_message_bytes:,} bytes "
                                                        "a Kafka record may hold]"}))
            running.logs.append(producer.send(topic, entry.execution_id, value))

        return send

    async def _publish(self, result: TaskResult, positions: list[Position], logs: list[Delivery],
                       refused: str | None = None) -> None:
        """The attempt's log lines, then its result; the offsets are finished only once the broker has them all.

        The result is produced without waiting for the lines' acknowledgements when the broker cannot
        refuse a line the producer took (``broker_takes_what_fits``): that wait was a broker round trip
        on the critical path of every task. The lines were produced first, so on one broker connection
        they are appended before the result too. With a raised record limit the result waits for them,
        so a line the broker refused as too large still fails the attempt saying so.

        Never raises (but on cancellation): a result too large for a Kafka record becomes a FAILED
        result saying so, any other refusal is retried with backoff until the broker has it.
        """
        assert self._producer is not None
        if broker_takes_what_fits(self.settings):
            # Those refused before they were queued are done already, and still fail the attempt.
            settled = {id(d) for d in logs if d.done()}
            first = [d for d in logs if id(d) in settled]
            logs = [d for d in logs if id(d) not in settled]
        else:
            first, logs = logs, []
        delivered = await self._logs_delivered(first)  # awaited even when the attempt fails anyway
        refused = refused or delivered
        if refused is not None:
            result = _failed(result, refused)
        value = encode_event(result)
        if not fits(self.settings, result.execution_id, value):
            result = _failed(result, too_large("The task's outputs", len(value), self.settings, OUTPUTS_FIX))
            value = encode_event(result)
        delay = 0.5
        while True:
            try:
                await self._producer.deliver(self.settings.topic("executor"), result.execution_id, value)
                break
            except BackendError as exc:
                if isinstance(exc, RecordRefused) and exc.too_large and result.outputs is not None:
                    # The broker's limit is lower than ours (the topic's max.message.bytes): the same fix.
                    result = _failed(result, f"The task's result was refused by the broker: {exc}. {OUTPUTS_FIX}")
                    value = encode_event(result)
                    continue
                # Left uncommitted it would be delivered again after a restart; retrying here is only quicker.
                self._result_outage.failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self._result_outage.recovered()
        late = await self._logs_delivered(logs)
        if late is not None:  # a broker whose own limit is below its default: the result had left already
            self._log.error("log_line_refused_after_result", execution_id=result.execution_id,
                            taskrun_id=result.taskrun_id, error=late)
        self._finish(positions)

    async def _logs_delivered(self, logs: list[Delivery]) -> str | None:
        """Wait for the deliveries of ``logs``; why the attempt must fail when one was refused as too large."""
        if not logs:
            return None
        refused = None
        for outcome in await asyncio.gather(*(asyncio.wrap_future(d) for d in logs), return_exceptions=True):
            if isinstance(outcome, RecordRefused) and outcome.too_large:
                refused = refused or f"A log line was refused by the broker: {outcome}. {LOG_LINE_FIX}"
            elif isinstance(outcome, BaseException):
                # librdkafka already retried for message.timeout.ms; a lost line must not hold the result.
                self._log_outage.failed(outcome)
        return refused

    def _finish(self, positions: list[Position]) -> None:
        for book, offset in positions:
            self._book.finished(book, offset)
        self.jobs_done += 1

    def _kill(self, kill: KillTask) -> None:
        running = self._running.get(f"{kill.taskrun_id}:{kill.attempt}")
        if running is not None and running.task is not None and not running.killed:
            self._log.info("job_killed", execution_id=kill.execution_id, taskrun_id=kill.taskrun_id,
                           attempt=kill.attempt)
            running.killed = True
            running.task.cancel()

    # ----- offsets -------------------------------------------------------------------------------
    async def _commit(self, *, asynchronous: bool) -> None:
        offsets = self._book.committable()
        if not offsets or self._consumer is None:
            return
        partitions = [TopicPartition(topic, partition, offset) for topic, partition, offset in offsets]
        try:
            await self._in_consumer(self._commit_now, partitions, asynchronous)
        except KafkaException as exc:
            self._log.warning("commit_failed", error=str(exc))
            return
        for topic, partition, offset in offsets:
            self._book.committed(topic, partition, offset)

    def _commit_now(self, partitions: list[TopicPartition], asynchronous: bool) -> None:
        assert self._consumer is not None
        if asynchronous:
            self._consumer.commit(offsets=partitions, asynchronous=True)
            return
        for tp in self._consumer.commit(offsets=partitions, asynchronous=False):
            if tp.error is not None:
                raise KafkaException(tp.error)

    # Rebalance callbacks: called by librdkafka on the consumer thread, inside consume().
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._book.assigned(tp.topic, tp.partition)
        self._reassigned = True
        self._log.info("partitions_assigned", partitions=[tp.partition for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        safe = []
        for tp in partitions:
            book = self._book.revoked(tp.topic, tp.partition)
            offset = self._book.final_offset(book) if book is not None else None
            if offset is not None:
                safe.append(TopicPartition(tp.topic, tp.partition, offset))
        if safe:
            try:
                consumer.commit(offsets=safe, asynchronous=False)
            except KafkaException as exc:
                self._log.warning("commit_on_revoke_failed", error=str(exc))
        self._log.info("partitions_revoked", partitions=[tp.partition for tp in partitions],
                       committed={tp.partition: tp.offset for tp in safe})

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member owns them already: committing now could move its commit point backwards.
        for tp in partitions:
            self._book.revoked(tp.topic, tp.partition)
        self._log.warning("partitions_lost", partitions=[tp.partition for tp in partitions])

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None and error.code() != KafkaError._NO_OFFSET:
            self._log.warning("commit_failed", error=error.str())

    async def _in_consumer(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._consumer_thread, fn, *args)

    # ----- heartbeats ----------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        assert self._producer is not None
        topic, host, pid = self.settings.topic("heartbeats"), socket.gethostname(), os.getpid()
        while True:
            beat = WorkerHeartbeat(worker_id=self.worker_id, host=host, pid=pid,
                                   group_id=self.consumer_group, worker_group=self.group_key,
                                   concurrency=self.concurrency,
                                   running=self.running_jobs, at=datetime.now(UTC))
            self._producer.send(topic, self.worker_id, encode_heartbeat(beat))
            await asyncio.sleep(self._heartbeat_interval)
