"""The production backend on Apache Kafka: topics, the faust executor, worker consumer groups."""

from kestra_stream.kafka._codec import (
    FlowRecord,
    decode_event,
    decode_job,
    decode_log,
    decode_state,
    encode_event,
    encode_job,
    encode_log,
    encode_state,
    flow_key,
)
from kestra_stream.kafka._settings import KafkaSettings, TopicNames

__all__ = [
    "FlowRecord",
    "KafkaSettings",
    "TopicNames",
    "decode_event",
    "decode_job",
    "decode_log",
    "decode_state",
    "encode_event",
    "encode_job",
    "encode_log",
    "encode_state",
    "flow_key",
]
