"""``kestra-stream flow ...``."""

from __future__ import annotations

import click


@click.group()
def flow() -> None:
    """Work with flow files."""
