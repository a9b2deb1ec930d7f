"""The Kafka backend's settings from the environment."""

from __future__ import annotations

import pytest

from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaSettings
from kestra_stream.kafka._limits import broker_takes_what_fits


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


def test_a_worker_waits_for_its_log_lines_before_the_result_only_when_the_record_limit_was_raised() -> None:
    # Under a default broker's limit the broker takes every line the producer took: the result need not wait.
    assert broker_takes_what_fits(KafkaSettings())
    assert broker_takes_what_fits(KafkaSettings(client={"message.max.bytes": "1048588"}))
    # Raised above it, a topic left at the default could still refuse a line: its refusal must fail the attempt.
    assert not broker_takes_what_fits(KafkaSettings(client={"message.max.bytes": "10485760"}))
