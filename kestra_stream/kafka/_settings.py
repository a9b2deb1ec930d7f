"""Settings of the Kafka backend: one frozen object, from a YAML file plus environment overrides."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML

from kestra_stream.errors import BackendError
from kestra_stream.services._settings import LAUNCHER_VARIABLES

ENV_PREFIX = "KESTRA_STREAM_KAFKA_"


class TopicNames(BaseModel):
    """Logical topic names; the prefix is added by ``KafkaSettings.topic``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    executor: str = "executor"        # the executor inbox: every event, keyed by execution id
    executions: str = "execution"     # folded state snapshots, compacted
    jobs: str = "workertask"          # worker jobs (RunTask), keyed by task run id
    killed: str = "executor_killed"   # KillTask commands, read by every worker (keyed by task run id)
    concurrency: str = "concurrency"  # slot requests and releases, keyed by flow (namespace/id)
    logs: str = "logs"
    flows: str = "flow"               # flow sources and revisions, compacted
    triggers: str = "trigger"
    heartbeats: str = "workerinstance"
    dead_letters: str = "deadletter"  # records no version of the wire format reads, with the error


_LIBRDKAFKA_LOG = logging.getLogger("librdkafka")


class KafkaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = "localhost:9092"
    topic_prefix: str = "kestra_stream."
    # Every topic keyed by execution id shares this count, so the executor folds without repartitioning.
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    topics: TopicNames = TopicNames()
    # Consumer groups and faust's changelog topics are named after these: by default they follow the
    # topic prefix, so two deployments on one cluster (or two test runs) never share state.
    executor_app_id: str = ""
    # The executor's static membership of its group (Kafka's group.instance.id, KIP-345): restarted under
    # the same id after a crash, it takes its partitions back at once, where a new member would wait for
    # the dead one's session to time out. One id per running executor (two sharing an id fence each other
    # out): `server standalone` gives its executor child one per supervisor, kept across the child's
    # restarts. Empty: dynamic membership. A graceful stop leaves the group either way.
    executor_instance_id: str = ""
    # How long the group waits for a silent executor (crashed, not restarted under its instance id) before
    # its partitions move to the others: shorter fails over sooner but rebalances on a stall that long
    # (heartbeats run on the consumer's own thread, so a long fold is no stall). The broker's defaults
    # accept 6-1800 s (group.min/max.session.timeout.ms); faust's request timeout (90 s) bounds it too.
    executor_session_timeout_seconds: float = Field(default=10.0, ge=6, le=90)
    worker_group_id: str = ""
    # The workerGroup key of this process's worker: it takes only the jobs of tasks of that group (empty:
    # only the jobs of no group). Each key is a consumer group of its own (``worker_consumer_group``).
    worker_group_key: str = Field(default="", pattern=r"^([a-zA-Z0-9][a-zA-Z0-9_-]*)?$")
    worker_concurrency: int = Field(default=16, ge=1)
    # Any librdkafka setting (security.protocol, sasl.*, ssl.*, ...), passed to every client as is.
    client: dict[str, str] = Field(default_factory=dict)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long the executor waits for its flow store to read a flow revision an event names (a flow
    # deployed and executed at once through another process) before it fails the execution.
    flow_wait_seconds: float = Field(default=30.0, ge=0)
    # How long an ended execution stays in the memory of long-running components (the executor's
    # tables, the executions client behind the API): late events for it are folded against its state
    # and a second creation of its id is ignored. After that its final snapshot lives on the compacted
    # executions topic (and in the index), from where a restart or a label change reads it back.
    ended_grace_seconds: float = Field(default=300.0, ge=0)
    # The most inbox events the executor folds before writing their effects together (one produce round
    # and one flush per batch). A batch is what has arrived, never waited for: 1 writes event by event.
    executor_batch_max: int = Field(default=200, ge=1)

    @property
    def max_message_bytes(self) -> int:
        """The largest record a producer of ours sends: librdkafka's ``message.max.bytes`` (1,000,000 unless
        ``client`` sets it), also faust's default ``producer_max_request_size``."""
        return int(self.client.get("message.max.bytes", 1_000_000))

    @model_validator(mode="after")
    def _derived_names(self) -> KafkaSettings:
        base = self.topic_prefix.rstrip("._-") or "kestra-stream"
        if not self.executor_app_id:
            object.__setattr__(self, "executor_app_id", f"{base}-executor")
        if not self.worker_group_id:
            object.__setattr__(self, "worker_group_id", f"{base}-worker")
        return self

    @property
    def worker_consumer_group(self) -> str:
        """The consumer group of this process's worker: one per worker group key, all reading the jobs topic."""
        return f"{self.worker_group_id}-{self.worker_group_key}" if self.worker_group_key else self.worker_group_id

    @property
    def trigger_groups(self) -> frozenset[str | None]:
        """The triggers this process evaluates, by workerGroup key: its key's, else those of no group."""
        return frozenset({self.worker_group_key or None})

    def topic(self, logical: str) -> str:
        return self.topic_prefix + str(getattr(self.topics, logical))

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """A confluent-kafka configuration: bootstrap servers, the pass-through settings, then ``extra``.

        librdkafka logs through the ``librdkafka`` standard logger rather than straight to stderr, so
        its reconnect lines while a broker is away pass the same filter as every library's.
        """
        return {"bootstrap.servers": self.bootstrap_servers, "logger": _LIBRDKAFKA_LOG, **self.client, **extra}

    def producer_config(self, **extra: Any) -> dict[str, Any]:
        """A producer's configuration: idempotent, acknowledged by all replicas, and faust's partitioner.

        The partitioner must be murmur2 (faust's and the Java clients'): librdkafka's default would
        send a record keyed by an execution id to another partition than the executor's own records.
        """
        return self.client_config(**{"enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random",
                                      **extra})

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None,
             **overrides: Any) -> KafkaSettings:
        """The file's ``kafka:`` section (or whole document), then ``KESTRA_STREAM_KAFKA_*``, then ``overrides``."""
        data: dict[str, Any] = {}
        if path is not None:
            loaded = YAML(typ="safe").load(path.read_text()) or {}
            data = dict(loaded.get("kafka", loaded))
        env = os.environ if environ is None else environ
        for key, value in env.items():
            # KESTRA_STREAM_KAFKA_PORT & co. set the local broker's ports for `kestra-stream services`.
            if key.startswith(ENV_PREFIX) and key not in LAUNCHER_VARIABLES:
                data[key[len(ENV_PREFIX):].lower()] = value
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            where = f" in {path}" if path else ""
            raise BackendError(f"invalid Kafka settings{where}: {exc}") from exc


def watermarks(consumer: Any, partition: Any, timeout: float) -> tuple[int, int]:
    """A partition's (low, high) offsets; right after a topic is created its leader may not be elected
    yet, so "not leader" and "unknown partition" are retried until ``timeout``."""
    import time

    from confluent_kafka import KafkaError, KafkaException

    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout)
            return int(low), int(high)
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args else None
            retriable = code in (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                                 KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION)
            if not retriable or time.monotonic() > deadline:
                raise BackendError(f"cannot read offsets of {partition.topic}[{partition.partition}]: {exc}") from exc
            time.sleep(0.05)
