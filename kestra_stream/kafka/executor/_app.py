"""The executor on faust-streaming: the inbox folded into a state table, commands carried out on topics.

Design (faust-streaming 0.15 has two known problems we design around):

- at-least-once, not exactly-once (its transactions are not trustworthy): every event may be
  folded again after a crash, and the fold ignores what no longer applies;
- one agent with concurrency 1 per stream (a higher concurrency can commit past an
  unprocessed message, faust-streaming#606), so events of a partition are folded in order.

The agent takes the events in batches (what has arrived, see _batches) and folds each in order;
then it produces every message the batch decided and waits until the broker has them, and only
then writes the states (and timers) to their tables and flushes. A crash before the table writes
redelivers the batch: it is folded again from the old states and yields the same messages with
the same ids, which their consumers ignore. A crash after them loses nothing. An offset is
committed only once its batch is durable (_commits).

Timers live in a table keyed by execution id (co-partitioned with the inbox, so only the
agent writes them and they come back from the changelog after a restart). A periodic
``app.timer`` produces TimerFired for due ones; the agent removes a timer when its
TimerFired is folded, so a timer fired just before a crash fires again (same event id).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import faust
import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from faust.types import EventT, StreamT

from kestra_stream.errors import BackendError
from kestra_stream.executor.commands import ScheduleTimer
from kestra_stream.executor.effects import FlowLookup
from kestra_stream.executor.events import Event, EvictionDue, RecordUnreadable, TimerFired
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.plan import plan_effects
from kestra_stream.executor.runtime import REVIVING, Decision, ExecutorRuntime, FlowInjection, OutageLog, notify
from kestra_stream.executor.slots import SlotBook, SlotRequest, apply_request, book_from_table
from kestra_stream.executor.wire import UnreadableRecord
from kestra_stream.executor.worker_groups import with_worker_groups
from kestra_stream.ids import derive_id
from kestra_stream.kafka._changelogs import CHANGELOG_TOPIC_CONFIG
from kestra_stream.kafka._codec import decode_event, decode_state, encode_event, encode_state
from kestra_stream.kafka._limits import OUTPUTS_FIX, RecordTooLarge, fits, too_large
from kestra_stream.kafka._settings import KafkaSettings
from kestra_stream.kafka._snapshots import latest_snapshot
from kestra_stream.kafka._topics import create_changelogs
from kestra_stream.kafka.executor._batches import batches, current
from kestra_stream.kafka.executor._commits import FoldedOffsets, hold_commits_to_folded, reread
from kestra_stream.kafka.executor._credentials import faust_credentials
from kestra_stream.kafka.executor._deadletter import DeadLetterLog, Refused
from kestra_stream.kafka.executor._fetching import buffered_backoffs, skip_backoff_for_changelogs
from kestra_stream.kafka.executor._liveness import WorkerLiveness
from kestra_stream.kafka.executor._outbox import Destination, Outgoing, Plan, messages_of
from kestra_stream.kafka.executor._startup import PromptTableManager, leave_on_stop

log = structlog.get_logger(__name__)

StateListener = Callable[[ExecutionState], None]
_DESTINATIONS: tuple[Destination, ...] = ("executor", "jobs", "killed", "logs", "concurrency")
_TOPICS = (*_DESTINATIONS, "executions", "dead_letters", "heartbeats")  # heartbeats: the live worker groups
# A timer fired but not yet folded is fired again after this long (its TimerFired may have been lost).
_REFIRE_SECONDS = 30.0
# How often the stall watchdog looks, and how long without a folded event counts as stalled.
_WATCHDOG_SECONDS = 2.0
_STALL_SECONDS = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


class KafkaExecutor:
    """One faust app: the fold agent, the concurrency agent and the timer loop. ``start``/``stop`` embed it."""

    def __init__(self, settings: KafkaSettings, flows: FlowLookup, *, store: str = "memory://",
                 timer_interval: float = 0.05, data_dir: Path | None = None,
                 templates: FlowInjection | None = None) -> None:
        self.settings = settings
        self._flows = flows
        self._runtime = ExecutorRuntime(flows, flow_wait_seconds=settings.flow_wait_seconds, templates=templates)
        self._liveness = WorkerLiveness(settings)  # which worker groups have a live worker, for their jobs
        self._handling = False
        self._timer_outage = OutageLog("executor_timers", self._runtime.clock)
        self._lag_outage = OutageLog("executor_lag_check", self._runtime.clock)
        self._listeners: list[StateListener] = []
        self._fired: dict[str, float] = {}  # timer id -> monotonic time its TimerFired was produced
        # execution id -> (the table's bytes, decoded): a folded event does not decode its state again
        self._decoded: dict[str, tuple[bytes, ExecutionState]] = {}
        self.started_in: float | None = None
        app_id = settings.executor_app_id
        # faust creates its data directory without parents; start() makes them.
        self._data_dir = data_dir or Path(tempfile.gettempdir()) / "kestra-stream-executor" / app_id
        self._app = faust.App(
            app_id,
            broker=[f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
            broker_credentials=faust_credentials(settings.client),
            store=store,
            datadir=str(self._data_dir),
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            # Without standby copies the tables hold exactly the partitions this instance folds.
            table_standby_replicas=0,
            web_enabled=False,
            autodiscover=False,
            producer_linger=0.0,
            producer_max_request_size=settings.max_message_bytes,
            broker_commit_interval=1.0,
            # Without an instance id, a restarted executor waits this long for its dead predecessor to leave
            # the group (faust's default is 60 s); with one, it replaces it at once (see _startup).
            broker_session_timeout=settings.executor_session_timeout_seconds,
            broker_heartbeat_interval=min(1.0, settings.executor_session_timeout_seconds / 3),
            consumer_group_instance_id=settings.executor_instance_id or None,
            # The topics exist before the app starts (_check_topics): faust's declarations would each fetch
            # the metadata of every topic of the cluster. No timer runs on the leader only: no leader topic.
            topic_allow_declare=False,
            topic_disable_leader=True,
            TableManager=PromptTableManager,
        )
        self._topics = {dest: self._raw_topic(settings.topic(dest)) for dest in _DESTINATIONS}
        self._executions = self._raw_topic(settings.topic("executions"))
        self._dead_letters = self._raw_topic(settings.topic("dead_letters"))
        self.dead_lettered = DeadLetterLog("executor_record", self._runtime.clock)
        # A table picks its changelog serializers from its types: bytes are kept raw, the rest is JSON.
        partitions, changelog = settings.partitions, CHANGELOG_TOPIC_CONFIG
        self._states = self._app.Table("executions", key_type=str, value_type=bytes, partitions=partitions,
                                       extra_topic_configs=changelog)
        self._timers = self._app.Table("timers", key_type=str, partitions=partitions, extra_topic_configs=changelog)
        self._slots = self._app.Table("slots", key_type=str, partitions=partitions, extra_topic_configs=changelog)
        # Ended executions still in the tables: execution id -> when they leave (epoch seconds).
        self._ended = self._app.Table("ended", key_type=str, partitions=partitions, extra_topic_configs=changelog)
        self._evicting: dict[str, float] = {}  # execution id -> monotonic time its EvictionDue was produced
        self._folded = FoldedOffsets(frozenset({settings.topic("executor"), settings.topic("concurrency")}))
        self._app.agent(self._topics["executor"], name=f"{app_id}.fold", concurrency=1)(self._fold_agent)
        self._app.agent(self._topics["concurrency"], name=f"{app_id}.slots", concurrency=1)(self._slot_agent)
        self._app.timer(timer_interval, name=f"{app_id}.timers")(self._timer_tick)
        evict_interval = min(max(settings.ended_grace_seconds / 4, 0.2), 10.0)
        self._app.timer(evict_interval, name=f"{app_id}.evictions")(self._eviction_tick)
        self._last_progress = time.monotonic()
        self._app.timer(_WATCHDOG_SECONDS, name=f"{app_id}.watchdog")(self._watchdog)
        # mode types a handler's ``signal`` parameter by a name mypy cannot resolve: connected untyped.
        assigned: Any = self._app.on_partitions_assigned
        assigned.connect(self._on_partitions_assigned)

    def _raw_topic(self, name: str) -> faust.TopicT:
        return self._app.topic(name, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Join the group, restore the tables from their changelogs, then fold; returns once ready."""
        began = time.monotonic()
        self._data_dir.parent.mkdir(parents=True, exist_ok=True)
        # faust retries an unreachable broker forever; this answers within the connect timeout instead.
        await asyncio.to_thread(self._check_topics)
        hold_commits_to_folded(self._app, self._folded)
        # Read beside the app's start (its group join takes longer), and whole before the first fold.
        liveness = asyncio.create_task(self._liveness.start(), name="executor-liveness-start")
        try:
            await self._app.start()
            await liveness
        except Exception as exc:
            liveness.cancel()
            raise BackendError(f"the Kafka executor could not start against {self.settings.bootstrap_servers}: "
                               f"{exc}; check that the broker runs and the topics exist "
                               "(`kestra-stream topics apply`)") from exc
        self.started_in = time.monotonic() - began
        # CPU seconds of the whole process so far (imports included): its start on a loaded machine.
        log.info("kafka_executor_started", app_id=self.settings.executor_app_id,
                 seconds=round(self.started_in, 3), cpu_seconds=round(time.process_time(), 2))

    def _check_topics(self) -> None:
        settings = self.settings
        admin = AdminClient(settings.client_config())
        try:
            existing = set(admin.list_topics(timeout=settings.connect_timeout_seconds).topics)
        except KafkaException as exc:
            raise BackendError(f"the Kafka broker at {settings.bootstrap_servers} did not answer within "
                               f"{settings.connect_timeout_seconds:g}s ({exc}); start it "
                               "(`kestra-stream services up kafka`) or fix bootstrap_servers") from exc
        missing = sorted(name for name in map(settings.topic, _TOPICS) if name not in existing)
        if missing:
            raise BackendError(f"the executor's topics {', '.join(missing)} do not exist on "
                               f"{settings.bootstrap_servers}; create them with `kestra-stream topics apply`")
        # faust declares no topic (see __init__): the tables' changelogs are created here when missing.
        create_changelogs(settings, existing)

    async def stop(self) -> None:
        if self.settings.executor_instance_id:
            leave_on_stop(self._app)
        await self._app.stop()
        await self._liveness.stop()
        log.info("kafka_executor_stopped", app_id=self.settings.executor_app_id)

    async def __aenter__(self) -> KafkaExecutor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_partitions_assigned(self, _sender: Any, assigned: Any = (), *_args: Any, **_kwargs: Any) -> None:
        # Before recovery, so before the first table write: see _fetching.
        await skip_backoff_for_changelogs(self._app)
        inbox = self.settings.topic("executor")
        # Which executions this instance folds from now on: an operator scaling executors reads it here.
        # The group's generation: a static member back after a crash keeps it (no rebalance happened).
        log.info("executor_partitions_assigned", app_id=self.settings.executor_app_id,
                 partitions=sorted(tp.partition for tp in assigned if tp.topic == inbox),
                 generation=self._app.consumer_generation_id)
        folded = sorted((tp.topic, tp.partition) for tp in assigned if tp.topic in self._folded.topics)
        try:
            self._folded.starts(await asyncio.to_thread(self._starts, folded))
        except KafkaException as exc:
            # Those never committed stay so until the next assignment: read again after a restart, never lost.
            log.warning("executor_partition_starts_unknown", error=str(exc), partitions=folded)

    def _starts(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Where this executor's group reads each partition from: its committed offset, else the log's start."""
        settings = self.settings
        consumer = Consumer(settings.client_config(**{"group.id": settings.executor_app_id,
                                                      "enable.auto.commit": False}))
        try:
            committed = consumer.committed([TopicPartition(t, p) for t, p in partitions],
                                           timeout=settings.connect_timeout_seconds)
            found = {}
            for position in committed:
                offset = position.offset if position.offset >= 0 else consumer.get_watermark_offsets(
                    position, timeout=settings.connect_timeout_seconds)[0]
                found[(position.topic, position.partition)] = offset
            return found
        finally:
            consumer.close()

    async def buffered_backoffs(self) -> dict[tuple[str, int], float]:
        """Batches fetched and not yet taken, by (topic, partition), with the seconds each may hold the
        next fetch back: a table's changelog (never taken outside recovery) must hold nothing."""
        return await buffered_backoffs(self._app)

    def subscribe(self, listener: StateListener) -> None:
        """Call ``listener`` in-process with every changed state (the executions topic carries the same)."""
        self._listeners.append(listener)

    def state(self, execution_id: str) -> ExecutionState | None:
        """The state of an execution folded by this instance (its partition is assigned here)."""
        raw = self._states.get(execution_id)
        cached = self._decoded.get(execution_id)
        if cached is not None and cached[0] is raw:
            return cached[1]
        if raw is None:
            self._decoded.pop(execution_id, None)
            return None
        return decode_state(raw)

    def _remember(self, encoded: bytes, state: ExecutionState) -> None:
        # The table holds the very bytes object written, so identity says the decoded copy is current;
        # after a recovery the table holds new objects and states are decoded again. Ended executions
        # are read rarely: only running ones are kept, so this stays as small as the work in flight.
        if state.finished:
            self._decoded.pop(state.execution.id, None)
        else:
            self._decoded[state.execution.id] = (encoded, state)

    # ----- the fold agent --------------------------------------------------------------------
    async def _fold_agent(self, stream: StreamT[bytes]) -> None:
        # Acknowledged by hand, once the batch holding a record is durable: see _batches.
        stream.enable_acks = False
        async for batch in batches(stream.events(), self.settings.executor_batch_max):
            self._handling = True
            try:
                decisions = await self._fold_batch(batch)
            finally:
                self._handling = False
                self._last_progress = time.monotonic()
            for record in batch:
                self._done(record)
                await stream.ack(record)
            for decision in decisions:
                if decision.changed and decision.state is not None:
                    log.debug("event_folded", execution_id=decision.event.execution_id, kind=decision.event.kind,
                              state=decision.state.execution.state.current.value, commands=len(decision.commands))
                    notify(self._listeners, decision.state)

    async def _fold_batch(self, records: list[EventT[bytes]]) -> list[Decision]:
        """Fold ``records`` in order, each from the state the one before left, and make all they decided
        durable; what the runtime cannot write is retried until it can (it never raises)."""
        folded: list[_Prepared] = []
        # Decided in this batch, not yet in the tables: a later event of the same execution folds from it.
        states: dict[str, ExecutionState | None] = {}
        written = 0
        for record in records:
            try:
                event = decode_event(record.value)
            except UnreadableRecord as exc:
                await self._runtime.durably(partial(self._dead_letter, record, exc))
                continue
            execution_id = event.execution_id
            if isinstance(event, EvictionDue):
                if execution_id in states:  # eviction reads the tables: what the batch decided goes first
                    await self._runtime.durably(partial(self.write_all, folded[written:]))
                    written = len(folded)
                    states.clear()
                with current(record):
                    await self._runtime.durably(partial(self._evict, execution_id))
                continue
            state = states[execution_id] if execution_id in states else self.state(execution_id)
            if state is None and isinstance(event, REVIVING):
                state = await self._archived(execution_id, record.message.partition)
            decision, prepared = await self._runtime.prepare(event, state, self)
            folded.append(replace(prepared, record=record))
            states[execution_id] = decision.state
        if written < len(folded):
            await self._runtime.durably(partial(self.write_all, folded[written:]))
        return [prepared.decision for prepared in folded]

    def _done(self, record: EventT[bytes]) -> None:
        """``record`` is folded and all it decided is durable: its offset may be committed."""
        message = record.message
        self._folded.folded(message.topic, message.partition, message.offset)

    async def _archived(self, execution_id: str, partition: int) -> ExecutionState | None:
        """An evicted execution's last snapshot, from the executions topic partition of its inbox partition."""
        found: list[ExecutionState | None] = []

        async def read() -> None:
            found.append(await asyncio.to_thread(latest_snapshot, self.settings, execution_id, [partition]))

        await self._runtime.durably(read)
        if found[-1] is not None:
            log.info("evicted_execution_read_back", execution_id=execution_id)
        return found[-1]

    async def _dead_letter(self, record: EventT[bytes], error: ValueError, *, inbox: bool = True) -> None:
        """Keep ``record`` aside with why it was refused and, for an inbox record, tell its execution; the agent
        then moves past it."""
        message = record.message
        refused = Refused(message.topic, message.partition, message.offset, _key(record), str(error))
        pending = [await self._dead_letters.send(key=message.key, value=record.value, headers=refused.headers())]
        if inbox and refused.key is not None:
            told = RecordUnreadable(
                event_id=derive_id("unreadable", message.topic, str(message.partition), str(message.offset)),
                execution_id=refused.key, at=_now(), reason=f"{error} (dead-letter record of {message.topic} "
                f"partition {message.partition} offset {message.offset})")
            pending.append(await self._topics["executor"].send(key=refused.key, value=encode_event(told)))
        await asyncio.gather(*pending)
        self.dead_lettered.refused(refused, self.settings.topic("dead_letters"))

    async def _watchdog(self, _app: object) -> None:
        """Re-read the executor topic from the committed offsets when it stalls with work left.

        faust can lose a fetched record (in the race between a rebalance and its recovery, or by
        acknowledging it unread: see _commits): the record is never handed to the agent, and the
        commit point stays before it (it is never folded). Reading again from the committed
        offsets hands it over; records already folded are harmless to fold again (the fold
        ignores what no longer applies).
        """
        # A hole holds its partition back even while other events keep the agent busy.
        held = (self._folded.held_for() or 0.0) >= _STALL_SECONDS
        if self._handling or (time.monotonic() - self._last_progress < _STALL_SECONDS and not held):
            return  # an event in hand may wait (a flow revision, an outage): that is no stall
        inbox = self.settings.topic("executor")
        # Only this instance's partitions: another executor of the group reads its own again when it stalls.
        mine = sorted(tp.partition for tp in self._app.consumer.assignment() if tp.topic == inbox)
        if not mine:
            return
        try:
            lag = await asyncio.to_thread(self._inbox_lag, mine)
        except KafkaException as exc:
            self._lag_outage.failed(exc)
            return
        self._lag_outage.recovered()
        idle = time.monotonic() - self._last_progress
        if lag > 0 and (idle >= _STALL_SECONDS or held):
            log.warning("executor_stalled_rereading", lag=lag, idle_seconds=round(idle), held=held)
            await reread(self._app, self._folded)
            self._last_progress = time.monotonic()

    def _inbox_lag(self, partitions: list[int]) -> int:
        """Records of the executor topic's ``partitions`` not committed yet by this executor's group."""
        settings = self.settings
        consumer = Consumer(settings.client_config(**{"group.id": settings.executor_app_id,
                                                      "enable.auto.commit": False}))
        try:
            topic = settings.topic("executor")
            committed = consumer.committed([TopicPartition(topic, p) for p in partitions],
                                           timeout=settings.connect_timeout_seconds)
            lag = 0
            for position in committed:
                high = consumer.get_watermark_offsets(position, timeout=settings.connect_timeout_seconds)[1]
                lag += max(0, high - max(position.offset, 0))
            return lag
        finally:
            consumer.close()

    async def _durable(self) -> None:
        """Wait until the table changes of the event just folded are on the broker.

        faust commits a source offset once the agent moves past its event, while table writes only
        go to a buffer: a crash between the two would lose the new state for good (its event is
        never read again). Flushing first makes the commit follow the changelog, never lead it.
        """
        await self._app.producer.flush()

    # ----- the runtime's outbox: a decision as messages, then tables ----------------------------
    def prepare(self, decision: Decision) -> _Prepared:
        effects = plan_effects(decision.event.event_id, decision.state, decision.commands, decision.flow,
                               self._flows, decision.at)
        plan = messages_of(with_worker_groups(effects, self._liveness.live_groups(), decision.at))
        # Encoded once: the table and the executions topic hold the same bytes.
        encoded = encode_state(decision.state) if decision.changed and decision.state is not None else None
        # Refused by the producer, they would be retried forever and hold the whole partition back.
        if encoded is not None and not fits(self.settings, decision.event.execution_id, encoded):
            raise RecordTooLarge(too_large("The execution's state", len(encoded), self.settings, OUTPUTS_FIX))
        for message in plan.messages:
            if not fits(self.settings, message.key, message.value):
                raise RecordTooLarge(too_large(f"A record for the {message.topic} topic", len(message.value),
                                               self.settings, OUTPUTS_FIX))
        return _Prepared(decision, plan, encoded)

    async def write(self, prepared: _Prepared) -> None:
        await self.write_all([prepared])

    async def write_all(self, folded: list[_Prepared]) -> None:
        """Produce every message of ``folded`` and wait for the broker, then write the tables, then flush once;
        safe to call again after a failure (the same messages and values again)."""
        await self._deliver(message for prepared in folded for message in prepared.plan.messages)
        for prepared in folded:
            if prepared.record is None:
                await self._write_tables(prepared)
            else:
                with current(prepared.record):
                    await self._write_tables(prepared)
        await self._durable()

    async def _write_tables(self, prepared: _Prepared) -> None:
        decision, plan = prepared.decision, prepared.plan
        event, new_state = decision.event, decision.state
        if plan.schedule or plan.cancel or isinstance(event, TimerFired):
            self._update_timers(event, plan.schedule, plan.cancel)
        if prepared.encoded is not None and new_state is not None:
            execution_id = new_state.execution.id
            leftover = self._timers.get(execution_id) if new_state.finished else None
            if leftover is not None:
                del self._timers[execution_id]  # a finished execution has no use for its timers
                for timer_id in leftover:
                    self._fired.pop(timer_id, None)
            self._states[execution_id] = prepared.encoded
            self._remember(prepared.encoded, new_state)
            if new_state.finished:
                self._ended[execution_id] = decision.at.timestamp() + self.settings.ended_grace_seconds
            elif self._ended.get(execution_id) is not None:
                del self._ended[execution_id]  # restarted: it is in flight again
            await self._executions.send(key=execution_id, value=prepared.encoded)

    async def _deliver(self, messages: Iterable[Outgoing]) -> None:
        """Produce and wait until the broker acknowledged every message (before the state moves on)."""
        pending = [await self._topics[m.topic].send(key=m.key, value=m.value) for m in messages]
        if pending:
            await asyncio.gather(*pending)

    def _update_timers(self, event: Event, schedule: list[ScheduleTimer], cancel: list[str]) -> None:
        execution_id = event.execution_id
        timers: dict[str, Any] = dict(self._timers.get(execution_id) or {})
        gone = list(cancel)
        if isinstance(event, TimerFired):
            gone.append(event.timer_id)
        for timer_id in gone:
            timers.pop(timer_id, None)
            self._fired.pop(timer_id, None)
        for timer in schedule:
            timers[timer.timer_id] = timer.model_dump(mode="json")
        if timers:
            self._timers[execution_id] = timers
        elif self._timers.get(execution_id) is not None:
            del self._timers[execution_id]

    # ----- timers ----------------------------------------------------------------------------
    async def _timer_tick(self, _app: object) -> None:
        try:
            await self._fire_due_timers()
        except Exception as exc:
            self._timer_outage.failed(exc)  # due timers are fired again on the next tick
        else:
            self._timer_outage.recovered()

    async def _fire_due_timers(self) -> None:
        now, clock = _now(), time.monotonic()
        due: list[ScheduleTimer] = []
        for timers in list(self._timers.values()):
            for timer_id, body in timers.items():
                fired = self._fired.get(timer_id)
                if fired is not None and clock - fired < _REFIRE_SECONDS:
                    continue
                timer = ScheduleTimer.model_validate(body)
                if timer.fire_at <= now:
                    due.append(timer)
        for timer in due:
            event = TimerFired(event_id=derive_id("timer", timer.timer_id), execution_id=timer.execution_id,
                               at=now, timer_id=timer.timer_id, purpose=timer.purpose, taskrun_id=timer.taskrun_id,
                               attempt=timer.attempt)
            await self._topics["executor"].send(key=timer.execution_id, value=encode_event(event))
            self._fired[timer.timer_id] = clock
            log.debug("timer_fired", execution_id=timer.execution_id, timer_id=timer.timer_id, purpose=timer.purpose)

    # ----- bounded state: ended executions leave the tables after their grace --------------------
    async def _eviction_tick(self, _app: object) -> None:
        now, clock = _now().timestamp(), time.monotonic()
        ended = dict(self._ended.items())
        for gone in [i for i in self._evicting if i not in ended]:  # evicted, or its partition moved away
            del self._evicting[gone]
        try:
            for execution_id, leaves_at in ended.items():
                asked = self._evicting.get(execution_id)
                if leaves_at > now or (asked is not None and clock - asked < _REFIRE_SECONDS):
                    continue
                event = EvictionDue(event_id=derive_id("evict", execution_id, leaves_at), execution_id=execution_id,
                                    at=_now())
                await self._topics["executor"].send(key=execution_id, value=encode_event(event))
                self._evicting[execution_id] = clock
        except Exception as exc:
            self._timer_outage.failed(exc)  # asked again on the next tick

    async def _evict(self, execution_id: str) -> None:
        """Tombstones for an ended execution in the tables; its final snapshot stays on the executions topic."""
        self._evicting.pop(execution_id, None)
        leaves_at = self._ended.get(execution_id)
        state = self.state(execution_id)
        if leaves_at is None or leaves_at > _now().timestamp() or state is None or not state.finished:
            return  # restarted, or changed again (labels) since it was asked: a later tick asks again
        del self._states[execution_id]
        del self._ended[execution_id]
        if self._timers.get(execution_id) is not None:
            del self._timers[execution_id]
        self._decoded.pop(execution_id, None)
        await self._durable()
        log.debug("execution_evicted", execution_id=execution_id)

    def held(self) -> int:
        """Executions in this instance's state table: in flight, or ended within the grace."""
        return len(self._states)

    # ----- the concurrency agent -------------------------------------------------------------
    async def _slot_agent(self, stream: StreamT[bytes]) -> None:
        async for record in stream.events():
            try:
                request = SlotRequest.model_validate_json(record.value)
            except ValueError as exc:
                await self._runtime.durably(partial(self._dead_letter, record, exc, inbox=False))
                self._done(record)
                continue
            book = book_from_table(self._slots.get(request.key))
            new_book, events = apply_request(book, request, _now())
            await self._runtime.durably(partial(self._write_slots, request, book, new_book, events))
            self._done(record)

    async def _write_slots(self, request: SlotRequest, book: SlotBook, new_book: SlotBook,
                           events: list[Event]) -> None:
        await self._deliver(Outgoing("executor", e.execution_id, encode_event(e)) for e in events)
        if new_book is not book:
            self._slots[request.key] = new_book.model_dump(mode="json")
        await self._durable()
        log.debug("slot_request_applied", execution_id=request.execution_id, request=request.kind,
                  holders=len(new_book.holders), queued=len(new_book.queued))


@dataclass(frozen=True)
class _Prepared:
    decision: Decision
    plan: Plan
    encoded: bytes | None  # the new state, when it changed
    record: EventT[bytes] | None = None  # the inbox record folded, whose changelog partitions the tables write


def _key(record: EventT[bytes]) -> str | None:
    key = record.key
    return key.decode(errors="replace") if isinstance(key, bytes) else key if isinstance(key, str) else None


def create_executor(settings: KafkaSettings, flows: FlowLookup, *, store: str = "memory://",
                    timer_interval: float = 0.05, data_dir: Path | None = None,
                    templates: FlowInjection | None = None) -> KafkaExecutor:
    """The executor app for ``settings`` (app id ``settings.executor_app_id``); ``await start()`` to run it.
    ``templates``: what includes the templates of flow.Template tasks (None when templates are off)."""
    return KafkaExecutor(settings, flows, store=store, timer_interval=timer_interval, data_dir=data_dir,
                         templates=templates)
