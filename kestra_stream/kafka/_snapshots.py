"""An execution's last snapshot, read back from the compacted executions topic.

Components keep only the executions in flight (and those ended within a grace period) in memory;
an older one is read from here when something needs it again: a restart, a label change, a
command from another process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from kestra_stream.errors import BackendError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka._codec import decode_state
from kestra_stream.kafka._settings import KafkaSettings, watermarks


def latest_snapshot(settings: KafkaSettings, execution_id: str,
                    partitions: Iterable[int] | None = None) -> ExecutionState | None:
    """The last snapshot of ``execution_id`` (None: never written, or deleted), reading ``partitions`` (all by
    default; the executions topic is co-partitioned with the executor topic, so the executor names one)."""
    name, key = settings.topic("executions"), execution_id.encode()
    timeout = settings.connect_timeout_seconds
    consumer = Consumer(settings.client_config(**{
        "group.id": f"kestra-stream-lookup-{uuid.uuid4().hex}", "enable.auto.commit": False}))
    try:
        topic = consumer.list_topics(name, timeout).topics.get(name)
        if topic is None or topic.error is not None:
            raise BackendError(f"topic {name!r} does not exist: run `kestra-stream topics apply`")
        wanted = list(topic.partitions) if partitions is None else list(partitions)
        ends = {p: watermarks(consumer, TopicPartition(name, p), timeout)[1] for p in wanted}
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in pending])
        latest: ExecutionState | None = None
        deadline = time.monotonic() + max(timeout, 30.0)
        while pending:
            if time.monotonic() > deadline:
                raise BackendError(f"reading topic {name!r} from {settings.bootstrap_servers} timed out")
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.key() == key:
                value = message.value()
                latest = decode_state(value) if value is not None else None  # a tombstone: deleted
            positions = consumer.position([TopicPartition(name, p) for p in pending])
            pending -= {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}
        return latest
    except KafkaException as exc:
        raise BackendError(f"Kafka at {settings.bootstrap_servers} is not reachable: {exc}") from exc
    finally:
        consumer.close()
