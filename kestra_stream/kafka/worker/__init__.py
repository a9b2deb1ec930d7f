"""The Kafka worker: a consumer group on the jobs topic, results to the executor inbox, heartbeats."""

from kestra_stream.kafka.worker._heartbeat import (
    WorkerHeartbeat,
    decode_heartbeat,
    default_worker_id,
    encode_heartbeat,
)
from kestra_stream.kafka.worker._kills import KillListener
from kestra_stream.kafka.worker._offsets import OffsetBook, PartitionOffsets
from kestra_stream.kafka.worker._worker import KafkaWorker

__all__ = [
    "KafkaWorker",
    "KillListener",
    "OffsetBook",
    "PartitionOffsets",
    "WorkerHeartbeat",
    "decode_heartbeat",
    "default_worker_id",
    "encode_heartbeat",
]
