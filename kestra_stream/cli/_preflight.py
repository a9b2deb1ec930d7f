"""Before a command starts its clients: does every service it needs answer? If not, one line each.

Library clients retry and log at length before giving up (elastic_transport, librdkafka); a TCP
connection answers in milliseconds, names the address, and lets the message say how to start the
service. A service that accepts connections but misbehaves is still reported by the clients.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

if TYPE_CHECKING:  # only read from what a caller hands in: importing them costs `execute` the services package
    from kestra_stream.kafka import KafkaSettings
    from kestra_stream.storage import StorageSettings

CONNECT_TIMEOUT_SECONDS = 5.0


def _refused(endpoints: Iterable[tuple[str, int]], timeout: float) -> str | None:
    """None when one of the endpoints accepts a TCP connection, else why the last one did not."""
    reason = "no address given"
    for host, port in endpoints:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
    return reason


def _url_endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]") or "localhost", int(port) if port.isdigit() else 9092


def unreachable_services(*, kafka: KafkaSettings | None = None, elasticsearch_url: str | None = None,
                         storage: StorageSettings | None = None,
                         timeout: float = CONNECT_TIMEOUT_SECONDS) -> list[str]:
    """One line per service that does not accept connections: what, where, why, and how to start it."""
    problems = []
    if kafka is not None:
        endpoints = [_host_port(a) for a in kafka.bootstrap_servers.split(",") if a.strip()]
        if (reason := _refused(endpoints, timeout)) is not None:
            problems.append(f"Kafka is not reachable at {kafka.bootstrap_servers} ({reason}): start it with "
                            "`kestra-stream services up kafka`, or point --bootstrap-servers "
                            "(KESTRA_STREAM_KAFKA_BOOTSTRAP_SERVERS) at a running broker")
    if elasticsearch_url is not None and (reason := _refused([_url_endpoint(elasticsearch_url)], timeout)):
        problems.append(f"Elasticsearch is not reachable at {elasticsearch_url} ({reason}): start it with "
                        "`kestra-stream services up elasticsearch`, or point --elasticsearch-url "
                        "(KESTRA_STREAM_ELASTICSEARCH_URL) at a running node")
    if storage is not None and storage.type == "minio" and (reason := _refused([_url_endpoint(storage.endpoint)],
                                                                                timeout)):
        problems.append(f"MinIO (the internal storage) is not reachable at {storage.endpoint} ({reason}): start it "
                        "with `kestra-stream services up minio`, or fix storage.endpoint in the settings file "
                        "(KESTRA_STREAM_STORAGE_ENDPOINT)")
    return problems


def require_services(*, kafka: KafkaSettings | None = None, elasticsearch_url: str | None = None,
                     storage: StorageSettings | None = None) -> None:
    """Exit with code 1 and one line per unreachable service, before any client logs its retries."""
    problems = unreachable_services(kafka=kafka, elasticsearch_url=elasticsearch_url, storage=storage)
    if problems:
        raise click.ClickException("\n".join(problems))
