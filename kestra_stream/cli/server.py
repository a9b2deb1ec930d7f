"""``kestra-stream server local``: the embedded backend as a long-running process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click
import structlog

from kestra_stream.backend import Backend
from kestra_stream.cli._kafka_options import kafka_options, kafka_settings, storage_for
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import BackendError, FlowValidationError
from kestra_stream.flows import flow_files
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.storage import Storage

log = structlog.get_logger(__name__)
DEFAULT_HOME = Path(".kestra-stream")


class FlowWatcher:
    """Deploys every flow file of a directory, and again whenever one changes (polling, no extra dependency)."""

    def __init__(self, engine: Backend, directory: Path) -> None:
        self._engine = engine
        self._directory = directory
        self._seen: dict[Path, float] = {}

    def scan(self) -> None:
        for path in flow_files([self._directory]):
            mtime = path.stat().st_mtime
            if self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            try:
                flow = self._engine.deploy(path.read_text(), file=str(path))
                log.info("flow_deployed", flow=f"{flow.namespace}.{flow.id}", revision=flow.revision,
                         file=str(path))
            except FlowValidationError as exc:
                log.error("flow_invalid", file=str(path), problems=[str(p) for p in exc.problems])


async def serve(backend: Backend, flows: Path | None, poll_seconds: float = 2.0) -> None:
    """Run until SIGINT / SIGTERM, deploying the flows of ``flows`` as they change."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = FlowWatcher(backend, flows) if flows else None
    while not stop.is_set():
        if watcher:
            watcher.scan()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_seconds)


async def serve_local(home: Path, flows: Path | None) -> None:
    async with EmbeddedEngine(home) as engine:
        click.echo(f"kestra-stream embedded server: home {home.resolve()}"
                   + (f", flows from {flows.resolve()}" if flows else ""), err=True)
        await serve(engine, flows)
    click.echo("stopped", err=True)


async def serve_standalone(settings: KafkaSettings, storage: Storage, home: Path, flows: Path | None) -> None:
    async with KafkaStack(settings, home=home, storage=storage) as stack:
        click.echo(f"kestra-stream standalone server on Kafka {settings.bootstrap_servers} "
                   f"(topics {settings.topic_prefix}*)" + (f", flows from {flows.resolve()}" if flows else ""),
                   err=True)
        await serve(stack, flows)
    click.echo("stopped", err=True)


@click.group()
def server() -> None:
    """Run the kestra-stream server."""


@server.command("local")
@click.option("--flows", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory of flows to deploy and watch for changes.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_HOME,
              show_default=True, help="Where the embedded backend keeps its SQLite file and storage.")
def local(flows: Path | None, home: Path) -> None:
    """The embedded backend in one process: executions resume where they were after a restart."""
    asyncio.run(serve_local(home, flows))


@server.command("standalone")
@click.option("--backend", type=click.Choice(["kafka"]), default="kafka", show_default=True)
@click.option("--flows", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory of flows to publish to the flows topic and watch for changes.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_HOME,
              show_default=True, help="Where the worker keeps working directories and local storage.")
@kafka_options
def standalone(backend: str, flows: Path | None, home: Path, config_file: Path | None,
               bootstrap_servers: str | None, topic_prefix: str | None, partitions: int | None) -> None:
    """Every component of the Kafka backend in one process (scale out with `executor` and `worker`)."""
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions)
    try:
        asyncio.run(serve_standalone(settings, storage_for(config_file, home), home, flows))
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc
