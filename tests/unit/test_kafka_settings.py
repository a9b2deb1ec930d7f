"""The Kafka backend's settings from the environment."""

from __future__ import annotations

import pytest

from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaSettings


def test_the_environment_overrides_the_defaults() -> None:
    settings = KafkaSettings.load(environ={"KESTRA_STREAM_KAFKA_BOOTSTRAP_SERVERS": "broker:29092",
                                           "KESTRA_STREAM_KAFKA_PARTITIONS": "8"})
    assert (settings.bootstrap_servers, settings.partitions) == ("broker:29092", 8)


def test_the_local_broker_launcher_variables_are_left_to_the_launcher() -> None:
    # A user who moved `kestra-stream services` to other ports still runs `execute --backend kafka`.
    settings = KafkaSettings.load(environ={"KESTRA_STREAM_KAFKA_PORT": "29092",
                                           "KESTRA_STREAM_KAFKA_CONTROLLER_PORT": "29093",
                                           "KESTRA_STREAM_KAFKA_HEAP": "512m"})
    assert settings == KafkaSettings()


def test_an_unknown_kafka_variable_is_refused_with_its_name() -> None:
    with pytest.raises(BackendError, match="partitons"):
        KafkaSettings.load(environ={"KESTRA_STREAM_KAFKA_PARTITONS": "8"})
