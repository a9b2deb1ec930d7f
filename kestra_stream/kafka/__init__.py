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
from kestra_stream.kafka._executions import KafkaExecutions
from kestra_stream.kafka._flows import KafkaFlowStore
from kestra_stream.kafka._settings import KafkaSettings, TopicNames, watermarks
from kestra_stream.kafka._stack import KafkaStack
from kestra_stream.kafka._topics import (
    ChangeKind,
    TopicChange,
    TopicDefinitions,
    TopicSpec,
    TopicStatus,
    load_definitions,
)
from kestra_stream.kafka._topics import apply as apply_topics
from kestra_stream.kafka._topics import delete_all as delete_topics
from kestra_stream.kafka._topics import describe as describe_topics

__all__ = [
    "ChangeKind",
    "FlowRecord",
    "KafkaExecutions",
    "KafkaFlowStore",
    "KafkaSettings",
    "KafkaStack",
    "TopicChange",
    "TopicDefinitions",
    "TopicNames",
    "TopicSpec",
    "TopicStatus",
    "apply_topics",
    "decode_event",
    "decode_job",
    "decode_log",
    "decode_state",
    "delete_topics",
    "describe_topics",
    "encode_event",
    "encode_job",
    "encode_log",
    "encode_state",
    "flow_key",
    "load_definitions",
    "watermarks",
]
