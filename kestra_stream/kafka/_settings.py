"""Settings of the Kafka backend: one frozen object, from a YAML file plus environment overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML

from kestra_stream.errors import BackendError

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


class KafkaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = "localhost:9092"
    topic_prefix: str = "kestra_stream."
    # Every topic keyed by execution id shares this count, so the executor folds without repartitioning.
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    topics: TopicNames = TopicNames()
    executor_app_id: str = "kestra-stream-executor"
    worker_group_id: str = "kestra-stream-worker"
    worker_concurrency: int = Field(default=16, ge=1)
    # Any librdkafka setting (security.protocol, sasl.*, ssl.*, ...), passed to every client as is.
    client: dict[str, str] = Field(default_factory=dict)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)

    def topic(self, logical: str) -> str:
        return self.topic_prefix + str(getattr(self.topics, logical))

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """A confluent-kafka configuration: bootstrap servers, the pass-through settings, then ``extra``.

        The partitioner is faust's (murmur2, as the Java clients): librdkafka's default would send a
        record keyed by an execution id to another partition than the executor's own records.
        """
        return {"bootstrap.servers": self.bootstrap_servers, "partitioner": "murmur2_random", **self.client,
                **extra}

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
            if key.startswith(ENV_PREFIX):
                data[key[len(ENV_PREFIX):].lower()] = value
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            where = f" in {path}" if path else ""
            raise BackendError(f"invalid Kafka settings{where}: {exc}") from exc
