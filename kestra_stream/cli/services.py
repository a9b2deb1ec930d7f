"""``kestra-stream services up|down|status [kafka] [elasticsearch] [minio]``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kestra_stream.errors import KestraStreamError
from kestra_stream.services import SERVICE_NAMES, ServicesSettings, down, status, up

F = TypeVar("F", bound=Callable[..., Any])

_NAMES = click.argument("names", nargs=-1, type=click.Choice(SERVICE_NAMES))

# option -> (settings field, help)
_PORT_OPTIONS = {
    "--kafka-port": ("kafka_port", "Kafka broker port [9092, $KESTRA_STREAM_KAFKA_PORT]"),
    "--kafka-controller-port": ("kafka_controller_port",
                                "KRaft controller port [9093, $KESTRA_STREAM_KAFKA_CONTROLLER_PORT]"),
    "--elasticsearch-port": ("elasticsearch_port",
                             "Elasticsearch HTTP port [9200, $KESTRA_STREAM_ELASTICSEARCH_PORT]"),
    "--elasticsearch-transport-port": (
        "elasticsearch_transport_port",
        "Elasticsearch transport port [9300, $KESTRA_STREAM_ELASTICSEARCH_TRANSPORT_PORT]"),
    "--minio-port": ("minio_port", "MinIO S3 port [9000, $KESTRA_STREAM_MINIO_PORT]"),
    "--minio-console-port": ("minio_console_port",
                             "MinIO console port [9001, $KESTRA_STREAM_MINIO_CONSOLE_PORT]"),
}


def _settings_options(func: F) -> F:
    """--home and the port options, shared by up, down and status (ports tell which server is ours)."""
    for flag, (field, help_text) in reversed(_PORT_OPTIONS.items()):
        func = click.option(flag, field, type=click.IntRange(1, 65535), default=None, help=help_text)(func)
    return click.option("--home", type=click.Path(file_okay=False), default=None,
                        help="Where downloads, data, logs and pid files live "
                             "[$KESTRA_STREAM_HOME, else ~/.kestra-stream/services]")(func)


def _load(home: str | None, ports: dict[str, int | None]) -> ServicesSettings:
    try:
        return ServicesSettings.load(home, overrides=ports)
    except KestraStreamError as exc:
        raise click.UsageError(str(exc)) from exc


def _progress(service: str, message: str) -> None:
    click.echo(f"{click.style(f'[{service}]', fg='cyan')} {message}", err=True)


@click.group()
def services() -> None:
    """Run real Kafka, Elasticsearch and MinIO on this machine, without Docker."""


@services.command("up")
@_NAMES
@_settings_options
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds to wait for each service to answer [kafka 90, elasticsearch 120, minio 60]")
def up_command(names: tuple[str, ...], home: str | None, timeout: float | None, **ports: int | None) -> None:
    """Start the named services (all when none is named) and wait until they answer.

    The first run downloads or builds each one (Maven for Kafka and Elasticsearch, `go install`
    for MinIO); later runs reuse them. A running service is left as it is.
    """
    settings = _load(home, ports)
    began = time.monotonic()
    try:
        endpoints = up(names, settings=settings, timeout=timeout, progress=_progress)
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"ready in {time.monotonic() - began:.1f} s (home {settings.home}):", err=True)
    for name, endpoint in endpoints.items():
        click.echo(f"{name}\t{endpoint}")


@services.command("down")
@_NAMES
@_settings_options
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL")
def down_command(names: tuple[str, ...], home: str | None, grace: float, **ports: int | None) -> None:
    """Stop the named services (all when none is named); their data stays for the next `up`."""
    try:
        outcome = down(names, settings=_load(home, ports), grace=grace)
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, what in outcome.items():
        click.echo(f"{name}\t{what}")


@services.command("status")
@_NAMES
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object by service name")
def status_command(names: tuple[str, ...], home: str | None, as_json: bool, **ports: int | None) -> None:
    """Show whether each service is installed, running and ready, and where it listens.

    Exits with status 3 when a named service (any, when none is named) is not ready.
    """
    try:
        states = status(names, settings=_load(home, ports))
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({
            name: {"installed": s.installed, "running": s.running, "ready": s.ready, "pid": s.pid,
                   "endpoint": s.endpoint, "directory": str(s.directory), "rss_bytes": s.rss_bytes}
            for name, s in states.items()
        }, indent=2))
    else:
        for name, s in states.items():
            if s.ready:
                state = f"ready      pid {s.pid}, {s.rss_bytes / 2**20:.0f} MiB  {s.listens}"
            elif s.running:
                state = f"starting   pid {s.pid} (not answering yet)  {s.listens}"
            else:
                state = "stopped" + ("" if s.installed else " (not installed)")
            click.echo(f"{name:<14}{state}")
    if not all(s.ready for s in states.values()):
        raise SystemExit(3)
