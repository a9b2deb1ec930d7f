"""``kestra-stream server local``: the embedded backend as a long-running process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click
import structlog

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import FlowValidationError
from kestra_stream.flows import flow_files

log = structlog.get_logger(__name__)
DEFAULT_HOME = Path(".kestra-stream")


class FlowWatcher:
    """Deploys every flow file of a directory, and again whenever one changes (polling, no extra dependency)."""

    def __init__(self, engine: EmbeddedEngine, directory: Path) -> None:
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


async def serve_local(home: Path, flows: Path | None, poll_seconds: float = 2.0) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with EmbeddedEngine(home) as engine:
        watcher = FlowWatcher(engine, flows) if flows else None
        click.echo(f"kestra-stream embedded server: home {home.resolve()}"
                   + (f", flows from {flows.resolve()}" if flows else ""), err=True)
        while not stop.is_set():
            if watcher:
                watcher.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
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
