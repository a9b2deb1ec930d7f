"""Session fixtures for tests that need the real Kafka, Elasticsearch or MinIO.

Each fixture checks that its service answers. When it does not, the test fails if the
CI environment variable is "true" (CI must never skip them silently), and is skipped
otherwise, with the command that starts the service either way.

Endpoints come from the same settings as `kestra-stream services up` (KESTRA_STREAM_HOME,
KESTRA_STREAM_*_PORT, MINIO_ROOT_USER ...), or from KESTRA_STREAM_KAFKA_BOOTSTRAP,
KESTRA_STREAM_ELASTICSEARCH_URL and KESTRA_STREAM_MINIO_ENDPOINT to use servers started
another way (for instance compose/).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from kestra_stream.services import ServicesSettings, elasticsearch_ready, kafka_ready, minio_ready

__all__ = ["elasticsearch_url", "kafka_bootstrap", "minio_credentials", "minio_endpoint", "require_service"]


def require_service(service: str, endpoint: str, ready: Callable[[str], bool]) -> str:
    """``endpoint`` when ``service`` answers there; otherwise fail (CI=true) or skip the test."""
    if ready(endpoint):
        return endpoint
    message = (f"{service} is not answering at {endpoint}; start it with "
               f"`kestra-stream services up {service}` (see deploy/README.md)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _settings() -> ServicesSettings:
    return ServicesSettings.load()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of a running Kafka broker, e.g. "localhost:9092"."""
    endpoint = os.environ.get("KESTRA_STREAM_KAFKA_BOOTSTRAP") or _settings().endpoint("kafka")
    return require_service("kafka", endpoint, kafka_ready)


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    """URL of a running Elasticsearch 8, e.g. "http://localhost:9200"."""
    endpoint = os.environ.get("KESTRA_STREAM_ELASTICSEARCH_URL") or _settings().endpoint("elasticsearch")
    return require_service("elasticsearch", endpoint, elasticsearch_ready)


@pytest.fixture(scope="session")
def minio_endpoint() -> str:
    """URL of a running MinIO, e.g. "http://localhost:9000" (the minio client takes its host:port)."""
    endpoint = os.environ.get("KESTRA_STREAM_MINIO_ENDPOINT") or _settings().endpoint("minio")
    return require_service("minio", endpoint, minio_ready)


@pytest.fixture(scope="session")
def minio_credentials() -> tuple[str, str]:
    """(access key, secret key) of the MinIO behind ``minio_endpoint``."""
    settings = _settings()
    return settings.minio_access_key, settings.minio_secret_key
