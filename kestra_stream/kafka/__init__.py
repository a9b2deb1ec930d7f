"""The production backend on Apache Kafka: topics, the faust executor, worker consumer groups.

Its names are imported on first use: a command that never touches Kafka (``execute`` on the
embedded engine) must not pay for the Kafka client's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str]] = {
    "ChangeKind": ("kestra_stream.kafka._topics", "ChangeKind"),
    "FlowRecord": ("kestra_stream.kafka._codec", "FlowRecord"),
    "KafkaExecutions": ("kestra_stream.kafka._executions", "KafkaExecutions"),
    "KafkaFlowStore": ("kestra_stream.kafka._flows", "KafkaFlowStore"),
    "KafkaSettings": ("kestra_stream.kafka._settings", "KafkaSettings"),
    "KafkaStack": ("kestra_stream.kafka._stack", "KafkaStack"),
    "TopicChange": ("kestra_stream.kafka._topics", "TopicChange"),
    "TopicDefinitions": ("kestra_stream.kafka._topics", "TopicDefinitions"),
    "TopicNames": ("kestra_stream.kafka._settings", "TopicNames"),
    "TopicSpec": ("kestra_stream.kafka._topics", "TopicSpec"),
    "TopicStatus": ("kestra_stream.kafka._topics", "TopicStatus"),
    "apply_topics": ("kestra_stream.kafka._topics", "apply"),
    "decode_event": ("kestra_stream.kafka._codec", "decode_event"),
    "decode_job": ("kestra_stream.kafka._codec", "decode_job"),
    "decode_log": ("kestra_stream.kafka._codec", "decode_log"),
    "decode_state": ("kestra_stream.kafka._codec", "decode_state"),
    "delete_topics": ("kestra_stream.kafka._topics", "delete_all"),
    "describe_topics": ("kestra_stream.kafka._topics", "describe"),
    "encode_event": ("kestra_stream.kafka._codec", "encode_event"),
    "encode_job": ("kestra_stream.kafka._codec", "encode_job"),
    "encode_log": ("kestra_stream.kafka._codec", "encode_log"),
    "encode_state": ("kestra_stream.kafka._codec", "encode_state"),
    "flow_key": ("kestra_stream.kafka._codec", "flow_key"),
    "load_definitions": ("kestra_stream.kafka._topics", "load_definitions"),
    "watermarks": ("kestra_stream.kafka._settings", "watermarks"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


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
