"""``kestra-stream plugins list|schema``."""

from __future__ import annotations

import json

import click

from kestra_stream.errors import PluginError
from kestra_stream.plugins import PluginKind, default_registry


@click.group()
def plugins() -> None:
    """Inspect the installed plugins."""


@plugins.command("list")
@click.option("--kind", type=click.Choice([k.value for k in PluginKind]), default=None)
def list_plugins(kind: str | None) -> None:
    """List every plugin type with its short name and older aliases."""
    registry = default_registry()
    for k in PluginKind:
        if kind and k.value != kind:
            continue
        classes = sorted(registry.classes(k), key=lambda c: c.plugin.type if c.plugin else "")
        if not classes:
            continue
        click.echo(f"{k.value}s:")
        for cls in classes:
            info = cls.plugin
            assert info is not None
            aliases = f"  (also {', '.join(info.aliases)})" if info.aliases else ""
            click.echo(f"  {info.type}  [{info.short}]{aliases}")
    for broken in registry.broken:
        click.echo(f"broken plugin: {broken}", err=True)


@plugins.command("schema")
@click.argument("type_name")
def schema(type_name: str) -> None:
    """Print the JSON Schema of a plugin's properties."""
    try:
        click.echo(json.dumps(default_registry().schema(type_name), indent=2))
    except PluginError as exc:
        raise click.ClickException(str(exc)) from exc
