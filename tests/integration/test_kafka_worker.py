"""The Kafka worker against the real broker: jobs in, results and logs out, kills, sharing, redelivery."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kestra_stream.executor.commands import KillTask, RunTask
from kestra_stream.executor.events import TaskResult
from kestra_stream.kafka import KafkaSettings, decode_event, decode_log, encode_job
from kestra_stream.kafka.worker import (
    KafkaWorker,
    OffsetBook,
    PartitionOffsets,
    WorkerHeartbeat,
    decode_heartbeat,
    encode_heartbeat,
)
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.storage import LocalStorage
from tests._pidfiles import written_pids

LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"
FAIL = "io.kestra.plugin.core.execution.Fail"
SHELL = "io.kestra.plugin.scripts.shell.Commands"


# ----- the commit point (pure) -----------------------------------------------------------------


def test_commit_point_moves_only_over_contiguous_finished_jobs() -> None:
    book = PartitionOffsets("jobs", 0)
    for offset in (5, 6, 7):
        book.started(offset)
    assert book.committable() == 5
    book.finished(7)
    assert book.committable() == 5
    book.finished(5)
    assert book.committable() == 6
    book.finished(6)
    assert book.committable() == 8
    assert book.pending == 0


def test_commit_point_does_not_repeat_an_offset_already_committed() -> None:
    book = PartitionOffsets("jobs", 0)
    book.started(0)
    book.finished(0)
    assert book.committable() == 1
    book.committed(1)
    assert book.committable() is None
    book.started(1)
    assert book.committable() is None
    book.finished(1)
    assert book.committable() == 2


def test_jobs_of_a_revoked_partition_finish_without_touching_its_next_assignment() -> None:
    offsets = OffsetBook()
    offsets.assigned("jobs", 1)
    old = offsets.started("jobs", 1, 10)
    assert old is not None
    revoked = offsets.revoked("jobs", 1)
    assert revoked is old and old.revoked
    assert offsets.started("jobs", 1, 11) is None  # not ours any more
    offsets.assigned("jobs", 1)
    fresh = offsets.started("jobs", 1, 10)
    assert fresh is not None and fresh is not old
    offsets.finished(old, 10)
    assert offsets.committable() == [("jobs", 1, 10)]
    offsets.finished(fresh, 10)
    assert offsets.committable() == [("jobs", 1, 11)]


def test_heartbeat_round_trips_as_json() -> None:
    beat = WorkerHeartbeat(worker_id="w", host="h", pid=1, group_id="g", concurrency=2, running=["tr:1"],
                           at=datetime(2024, 1, 1, tzinfo=UTC))
    assert decode_heartbeat(encode_heartbeat(beat)) == beat


# ----- against the broker ----------------------------------------------------------------------


@pytest.fixture
def settings(kafka_bootstrap: str) -> KafkaSettings:
    unique = uuid.uuid4().hex[:10]
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"test_worker_{unique}.",
                             worker_group_id=f"test-worker-{unique}", partitions=4)
    admin = AdminClient(settings.client_config())
    wanted = [NewTopic(settings.topic("jobs"), num_partitions=4), NewTopic(settings.topic("executor"), 4),
              NewTopic(settings.topic("logs"), 4), NewTopic(settings.topic("killed"), 2),
              NewTopic(settings.topic("heartbeats"), 1, config={"cleanup.policy": "compact"})]
    for future in admin.create_topics(wanted, operation_timeout=10).values():
        future.result(timeout=60)
    return settings


def job(task: dict[str, Any], *, execution_id: str = "ex1", attempt: int = 1) -> RunTask:
    taskrun_id = uuid.uuid4().hex
    return RunTask.model_validate({
        "execution_id": execution_id, "taskrun_id": taskrun_id, "attempt": attempt, "task": task,
        "namespace": "tests.worker", "flow_id": "f",
        "variables": {"flow": {"id": "f", "namespace": "tests.worker"}, "execution": {"id": execution_id},
                      "inputs": {"name": "Kafka"}, "outputs": {}, "task": {"id": task["id"], "type": task["type"]},
                      "taskrun": {"id": taskrun_id}},
    })


def shell(*commands: str) -> dict[str, Any]:
    return {"id": "sh", "type": SHELL, "commands": list(commands)}


def produce(settings: KafkaSettings, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = Producer(settings.client_config())
    for key, value in records:
        producer.produce(settings.topic(topic), key=key.encode(), value=value)
    assert producer.flush(60) == 0


def submit(settings: KafkaSettings, *jobs: RunTask) -> None:
    produce(settings, "jobs", [(j.taskrun_id, encode_job(j)) for j in jobs])


class TopicReader:
    """Reads a whole topic from its beginning, with no group (nothing committed)."""

    def __init__(self, settings: KafkaSettings, logical: str, partitions: int) -> None:
        self.topic = settings.topic(logical)
        self.consumer = Consumer(settings.client_config(**{"group.id": f"reader-{uuid.uuid4().hex}",
                                                           "enable.auto.commit": False}))
        self.consumer.assign([TopicPartition(self.topic, p, 0) for p in range(partitions)])
        self.records: list[tuple[str, bytes | None]] = []

    def _read(self) -> None:
        for message in self.consumer.consume(500, 0.2):
            if message.error() is None:
                key = message.key()
                self.records.append((key.decode() if key else "", message.value()))

    async def until(self, done: Callable[[list[tuple[str, bytes | None]]], bool], seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not done(self.records):
            assert time.monotonic() < deadline, f"{self.topic}: gave up waiting; got {len(self.records)} records"
            await asyncio.to_thread(self._read)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
async def results(settings: KafkaSettings) -> AsyncIterator[TopicReader]:
    reader = TopicReader(settings, "executor", 4)
    yield reader
    reader.close()


def task_results(records: list[tuple[str, bytes | None]]) -> dict[str, TaskResult]:
    found = {}
    for _key, value in records:
        assert value is not None
        event = decode_event(value)
        assert isinstance(event, TaskResult)
        found[event.taskrun_id] = event
    return found


def has_all(*jobs: RunTask) -> Callable[[list[tuple[str, bytes | None]]], bool]:
    return lambda records: {j.taskrun_id for j in jobs} <= set(task_results(records))


def worker(settings: KafkaSettings, tmp_path: Path, **kwargs: Any) -> KafkaWorker:
    return KafkaWorker(settings, storage=LocalStorage(tmp_path / "storage"), workdir_root=tmp_path / "work",
                       **kwargs)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False


async def wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.05)


async def test_log_and_return_jobs_come_back_as_results_keyed_by_execution_with_logs_and_heartbeats(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    log_job = job({"id": "hello", "type": LOG, "message": "Hello {{ inputs.name }}"}, execution_id="exA")
    return_job = job({"id": "ret", "type": RETURN, "format": "{{ inputs.name }}!"}, execution_id="exB")
    submit(settings, log_job, return_job)
    async with worker(settings, tmp_path, heartbeat_interval=0.2):
        await results.until(has_all(log_job, return_job))
    found = task_results(results.records)
    assert found[log_job.taskrun_id].state == StateType.SUCCESS
    assert found[return_job.taskrun_id].state == StateType.SUCCESS
    assert found[return_job.taskrun_id].outputs == {"value": "Kafka!"}
    assert {key for key, _ in results.records} == {"exA", "exB"}

    logs = TopicReader(settings, "logs", 4)
    await logs.until(lambda records: len(records) >= 1)
    logs.close()
    entries: list[LogEntry] = [decode_log(v) for _k, v in logs.records if v is not None]
    assert [(e.execution_id, e.taskrun_id, e.message) for e in entries] == [
        ("exA", log_job.taskrun_id, "Hello Kafka")]
    assert [k for k, _ in logs.records] == ["exA"]

    beats = TopicReader(settings, "heartbeats", 1)
    await beats.until(lambda records: any(v is None for _k, v in records))
    beats.close()
    beat = decode_heartbeat(next(v for _k, v in beats.records if v is not None))
    assert beat.group_id == settings.worker_group_id and beat.concurrency == settings.worker_concurrency
    assert beats.records[-1][1] is None  # a clean stop leaves a tombstone


async def test_failing_task_gives_a_failed_result_with_its_error_logged(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    failing = job({"id": "boom", "type": FAIL, "errorMessage": "no luck"})
    submit(settings, failing)
    async with worker(settings, tmp_path):
        await results.until(has_all(failing))
    assert task_results(results.records)[failing.taskrun_id].state == StateType.FAILED


async def test_unreadable_job_fails_its_attempt_instead_of_blocking_the_partition(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    produce(settings, "jobs", [("tr-x", b'{"execution_id": "exX", "taskrun_id": "tr-x", "attempt": 2, '
                                         b'"task": {"id": "t", "type": "no.such.Plugin"}}')])
    after = job({"id": "ok", "type": RETURN, "format": "fine"})
    submit(settings, after)
    async with worker(settings, tmp_path):
        await results.until(lambda records: {"tr-x", after.taskrun_id} <= set(task_results(records)))
    unreadable = task_results(results.records)["tr-x"]
    assert (unreadable.execution_id, unreadable.attempt, unreadable.state) == ("exX", 2, StateType.FAILED)
    assert unreadable.message is not None and "no.such.Plugin" in unreadable.message


async def test_attempts_run_concurrently_up_to_the_worker_concurrency(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    jobs = [job(shell("sleep 1")) for _ in range(4)]
    submit(settings, *jobs)
    async with worker(settings, tmp_path, concurrency=4) as w:
        # Four at once: the sleeps overlap (one after the other, never more than one would run).
        await wait_for(lambda: len(w.running_jobs) == 4)
        await results.until(has_all(*jobs))
    assert {r.state for r in task_results(results.records).values()} == {StateType.SUCCESS}


async def test_worker_never_runs_more_attempts_than_its_concurrency(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    jobs = [job(shell("sleep 0.3")) for _ in range(6)]
    submit(settings, *jobs)
    seen: list[int] = []
    async with worker(settings, tmp_path, concurrency=2) as w:
        reading = asyncio.create_task(results.until(has_all(*jobs)))
        while not reading.done():
            seen.append(len(w.running_jobs))
            await asyncio.sleep(0.02)
        await reading
    assert max(seen) == 2


async def test_kill_record_cancels_the_running_script_and_ends_its_processes(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    victim = job(shell(f"sleep 300 & echo $! > {pids}/bg", f"echo $$ > {pids}/main", "wait"))
    async with worker(settings, tmp_path) as w:
        submit(settings, victim)
        await wait_for(lambda: written_pids(pids / "main", pids / "bg") is not None)
        main, bg = written_pids(pids / "main", pids / "bg") or []
        assert alive(main) and alive(bg)
        kill = KillTask(execution_id=victim.execution_id, taskrun_id=victim.taskrun_id, attempt=victim.attempt)
        produce(settings, "killed", [(victim.taskrun_id, kill.model_dump_json().encode())])
        await wait_for(lambda: not w.running_jobs)
        assert not alive(main) and not alive(bg)
        # The executor already ended the attempt when it sent the kill: no result comes from the worker.
        await asyncio.to_thread(results._read)
        assert victim.taskrun_id not in task_results(results.records)


async def test_two_workers_share_jobs_and_the_survivor_finishes_what_the_stopped_one_left(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    first = worker(settings, tmp_path / "a", concurrency=2, worker_id="first")
    second = worker(settings, tmp_path / "b", concurrency=2, worker_id="second")
    await first.start()
    await second.start()
    try:
        await wait_for(lambda: len(first.assigned_partitions) == 2 and len(second.assigned_partitions) == 2)
        jobs = [job(shell("sleep 0.4")) for _ in range(16)]
        submit(settings, *jobs)
        await wait_for(lambda: first.jobs_done > 0 and second.jobs_done > 0)
        await wait_for(lambda: bool(first.running_jobs))
        # No grace: the first one's running jobs are cancelled, left uncommitted, and run again by the second.
        await first.stop(grace=0)
        await results.until(has_all(*jobs), seconds=60)
    finally:
        await first.stop()
        await second.stop()
    assert first.jobs_done + second.jobs_done >= len(jobs)
    assert {r.state for r in task_results(results.records).values()} == {StateType.SUCCESS}


async def test_job_of_a_worker_killed_mid_run_is_run_again_by_the_next_worker(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    slow = job(shell(f"echo run >> {runs}", "sleep 2"))
    submit(settings, slow)
    doomed = worker(settings, tmp_path / "a", worker_id="doomed")
    running = asyncio.create_task(doomed.run_until_stopped())
    await wait_for(lambda: runs.exists() and runs.read_text() == "run\n")
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert runs.read_text() == "run\n"
    async with worker(settings, tmp_path / "b", worker_id="heir"):
        await results.until(has_all(slow))
    assert runs.read_text() == "run\nrun\n"
    assert task_results(results.records)[slow.taskrun_id].state == StateType.SUCCESS


async def test_finished_jobs_are_committed_and_not_run_again_by_the_next_worker(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    quick = job(shell(f"echo run >> {runs}"))
    submit(settings, quick)
    async with worker(settings, tmp_path / "a"):
        await results.until(has_all(quick))
    later = job(shell("true"))
    submit(settings, later)
    async with worker(settings, tmp_path / "b"):
        await results.until(has_all(later))
    assert runs.read_text() == "run\n"


async def test_clean_stop_lets_the_running_attempt_finish_and_commits_it(
        settings: KafkaSettings, results: TopicReader, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    slow = job(shell(f"echo run >> {runs}", "sleep 0.5"))
    submit(settings, slow)
    first = worker(settings, tmp_path / "a")
    await first.start()
    await wait_for(lambda: runs.exists() and runs.read_text() == "run\n")
    await first.stop(grace=10)
    await results.until(has_all(slow))
    async with worker(settings, tmp_path / "b") as second:
        await wait_for(lambda: bool(second.assigned_partitions))
        await asyncio.sleep(0.5)
        assert second.jobs_done == 0
    assert runs.read_text() == "run\n"
