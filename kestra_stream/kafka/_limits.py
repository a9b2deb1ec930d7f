"""How large a Kafka record may be, and what to say when something is larger (worker and executor alike)."""

from __future__ import annotations

from kestra_stream.errors import BackendError
from kestra_stream.kafka._settings import KafkaSettings

# What a record adds to its key and value against librdkafka's message.max.bytes (headers, framing).
RECORD_OVERHEAD = 1024
# The broker's own message.max.bytes unless configured, which a topic without max.message.bytes inherits.
BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
RAISE_LIMIT = "or raise message.max.bytes for the broker's topics and in the kafka `client` settings."
OUTPUTS_FIX = ("Keep large data out of outputs: write it to a file (a script's outputFiles, or internal storage) and "
               f"pass its URI; {RAISE_LIMIT}")
LOG_LINE_FIX = f"Log less at once (write large data to a file and log its URI); {RAISE_LIMIT}"


class RecordTooLarge(BackendError):
    """Something the executor must store is larger than a Kafka record may be."""


def fits(settings: KafkaSettings, key: str, value: bytes) -> bool:
    return len(value) + len(key) + RECORD_OVERHEAD <= settings.max_message_bytes


def broker_takes_what_fits(settings: KafkaSettings) -> bool:
    """Whether a record our producers accept is also below a default broker's limit, so the broker never refuses
    it for its size (our producers' limit was not raised above the broker's default)."""
    return settings.max_message_bytes <= BROKER_DEFAULT_MAX_MESSAGE_BYTES


def too_large(what: str, size: int, settings: KafkaSettings, fix: str) -> str:
    return (f"{what}: {size:,} bytes once encoded, above the {settings.max_message_bytes:,} bytes a Kafka "
            f"record may hold (message.max.bytes). {fix}")
