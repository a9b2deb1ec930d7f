"""Real Kafka, Elasticsearch and MinIO on this machine, without Docker, and Podman's Docker API.

``up`` fetches each server the way its ecosystem does (Maven Central for Kafka and
Elasticsearch, the Go module proxy for MinIO), caches it under a home directory, starts
it on the loopback address and waits until it answers; ``down`` stops it and keeps its
data; ``status`` says what runs where. ``kestra-stream services`` is the command line.
"""

from kestra_stream.services._elasticsearch import elasticsearch_ready
from kestra_stream.services._kafka import kafka_ready
from kestra_stream.services._launcher import ServiceStatus, down, status, up
from kestra_stream.services._minio import minio_ready
from kestra_stream.services._podman import podman_ready
from kestra_stream.services._private import PrivateKafka
from kestra_stream.services._process import ServiceError
from kestra_stream.services._settings import (
    DEFAULT_ELASTICSEARCH_URL,
    DEFAULT_KAFKA_BOOTSTRAP,
    DEFAULT_MINIO_ACCESS_KEY,
    DEFAULT_MINIO_ENDPOINT,
    DEFAULT_MINIO_SECRET_KEY,
    ELASTICSEARCH_VERSION,
    KAFKA_VERSION,
    MINIO_VERSION,
    SERVICE_NAMES,
    ServiceName,
    ServicesConfigError,
    ServicesSettings,
    resolve_home,
)

__all__ = [
    "DEFAULT_ELASTICSEARCH_URL",
    "DEFAULT_KAFKA_BOOTSTRAP",
    "DEFAULT_MINIO_ACCESS_KEY",
    "DEFAULT_MINIO_ENDPOINT",
    "DEFAULT_MINIO_SECRET_KEY",
    "ELASTICSEARCH_VERSION",
    "KAFKA_VERSION",
    "MINIO_VERSION",
    "SERVICE_NAMES",
    "PrivateKafka",
    "ServiceError",
    "ServiceName",
    "ServiceStatus",
    "ServicesConfigError",
    "ServicesSettings",
    "down",
    "elasticsearch_ready",
    "kafka_ready",
    "minio_ready",
    "podman_ready",
    "resolve_home",
    "status",
    "up",
]
