"""The ``kestra-stream`` command line."""

from __future__ import annotations

import importlib

import click

from kestra_stream import __version__
from kestra_stream.log import configure_logging
from kestra_stream.supervisor import adopt_supervision


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs.

    ``execute`` on the embedded engine must not pay for the Kafka, Elasticsearch and MinIO
    clients that the server commands import (seconds of a short command's wall time).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"kestra_stream.cli.{module_name}"), attribute)
        assert isinstance(command, click.Command)
        return command


# command name -> "module:attribute" under kestra_stream.cli
_COMMANDS = {
    "flow": "flow:flow",
    "template": "template:template",
    "plugins": "plugins:plugins",
    "execute": "execute:execute",
    "execution": "execution:execution",
    "server": "server:server",
    "services": "services:services",
    "topics": "topics:topics",
    "executor": "components:executor",
    "worker": "components:worker",
    "indexer": "indexer:indexer",
    "scheduler": "scheduler:scheduler",
    "webserver": "webserver:webserver",
}


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kestra-stream")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Level of the engine's own log lines (on stderr).")
@click.option("--log-format", default="console", show_default=True, type=click.Choice(["console", "json"]))
def main(log_level: str, log_format: str) -> None:
    """kestra-stream: run Kestra flows on an embedded engine or on Apache Kafka."""
    configure_logging("json" if log_format == "json" else "console", log_level)
    adopt_supervision()
