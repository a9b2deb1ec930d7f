"""The ``kestra-stream`` command line."""

from __future__ import annotations

import click

from kestra_stream import __version__
from kestra_stream.log import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kestra-stream")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Level of the engine's own log lines (on stderr).")
@click.option("--log-format", default="console", show_default=True, type=click.Choice(["console", "json"]))
def main(log_level: str, log_format: str) -> None:
    """kestra-stream: run Kestra flows on an embedded engine or on Apache Kafka."""
    configure_logging("json" if log_format == "json" else "console", log_level)


def _register() -> None:
    from kestra_stream.cli import (
        components,
        execute,
        execution,
        flow,
        indexer,
        plugins,
        scheduler,
        server,
        services,
        topics,
    )
    from kestra_stream.cli.webserver import webserver

    main.add_command(flow.flow)
    main.add_command(plugins.plugins)
    main.add_command(execute.execute)
    main.add_command(execution.execution)
    main.add_command(server.server)
    main.add_command(services.services)
    main.add_command(topics.topics)
    main.add_command(components.executor)
    main.add_command(components.worker)
    main.add_command(indexer.indexer)
    main.add_command(scheduler.scheduler)
    main.add_command(webserver)


_register()
