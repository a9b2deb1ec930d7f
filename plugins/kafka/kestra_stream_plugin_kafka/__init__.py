"""Kestra's Kafka plugins (``io.kestra.plugin.kafka.*``) for kestra-stream, on confluent-kafka.

Registered through the ``kestra_stream.plugins`` entry point ``kafka``, which names :func:`plugins`:
the tasks Produce and Consume, the polling Trigger (one execution per batch) and the
RealtimeTrigger (one execution per record). Keys and values use Kestra's serde names (STRING,
JSON, LONG, DOUBLE, BYTES ...); AVRO and PROTOBUF are refused when a flow is loaded.
"""

from __future__ import annotations

from kestra_stream.models.plugin import PluginModel
from kestra_stream_plugin_kafka._consumer import (
    ConnectionOptions,
    ConsumerOptions,
    ConsumerSpec,
    OnSerdeError,
    iso_millis,
    resolve,
)
from kestra_stream_plugin_kafka._serdes import SerdeError, SerdeType, deserialize, serialize
from kestra_stream_plugin_kafka.tasks import Consume, Produce
from kestra_stream_plugin_kafka.triggers import RealtimeTrigger, Trigger

TASKS: tuple[type[PluginModel], ...] = (Produce, Consume)
TRIGGERS: tuple[type[PluginModel], ...] = (Trigger, RealtimeTrigger)


def plugins() -> list[type[PluginModel]]:
    """Every Kafka plugin class (the ``kafka`` entry point of ``kestra_stream.plugins``)."""
    return [*TASKS, *TRIGGERS]


__all__ = [
    "TASKS",
    "TRIGGERS",
    "ConnectionOptions",
    "Consume",
    "ConsumerOptions",
    "ConsumerSpec",
    "OnSerdeError",
    "Produce",
    "RealtimeTrigger",
    "SerdeError",
    "SerdeType",
    "Trigger",
    "deserialize",
    "iso_millis",
    "plugins",
    "resolve",
    "serialize",
]
