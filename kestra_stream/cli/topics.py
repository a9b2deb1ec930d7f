"""``kestra-stream topics apply|list``: the Kafka backend's topics, from their definitions as data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from kestra_stream.errors import KestraStreamError
from kestra_stream.kafka._settings import KafkaSettings
from kestra_stream.kafka._topics import (
    ChangeKind,
    TopicChange,
    TopicDefinitions,
    TopicStatus,
    apply,
    describe,
    load_definitions,
)

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _kafka_options(func: F) -> F:
    """Where the broker is and how topics are named: a settings file, then the environment, then flags."""
    options = [
        click.option("--config", "config_file", type=_FILE, default=None,
                     help="YAML settings file (its kafka: section, or the whole document); "
                          "KESTRA_STREAM_KAFKA_* variables override it"),
        click.option("--bootstrap-servers", default=None, help="Kafka brokers, host:port[,host:port]"),
        click.option("--prefix", "topic_prefix", default=None, help="Prefix of every topic name"),
        click.option("--partitions", type=click.IntRange(min=1), default=None,
                     help="Partitions of the topics whose definition says `partitions: default`"),
        click.option("--replication-factor", type=click.IntRange(min=1), default=None,
                     help="Replicas of the topics whose definition says `replication_factor: default`"),
        click.option("--definitions", "definitions_file", type=_FILE, default=None,
                     help="Topic definitions to use instead of the packaged ones (topics/topics.yaml)"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(config_file: Path | None, definitions_file: Path | None,
          **overrides: Any) -> tuple[KafkaSettings, TopicDefinitions]:
    try:
        return KafkaSettings.load(config_file, **overrides), load_definitions(definitions_file)
    except KestraStreamError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group()
def topics() -> None:
    """Create, update and inspect the Kafka topics of the production backend."""


@topics.command("apply")
@_kafka_options
@click.option("--dry-run", is_flag=True, help="Only show what would change; write nothing")
def apply_command(config_file: Path | None, definitions_file: Path | None, dry_run: bool,
                  **overrides: Any) -> None:
    """Create missing topics, set settings that differ and add partitions, idempotently.

    Partitions are never removed: a topic with more partitions than defined is an error.
    """
    settings, definitions = _load(config_file, definitions_file, **overrides)
    try:
        changes = apply(settings, definitions, dry_run=dry_run)
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in format_changes(changes, dry_run=dry_run):
        click.echo(line)
    counts = Counter(change.kind for change in changes)
    verb = "would be " if dry_run else ""
    click.echo(", ".join(f"{counts[kind]} {verb}{kind.value}" for kind in ChangeKind)
               + f" (bootstrap {settings.bootstrap_servers})", err=True)


@topics.command("list")
@_kafka_options
@click.option("--check", is_flag=True, help="Exit with status 1 when any topic differs from its definition")
def list_command(config_file: Path | None, definitions_file: Path | None, check: bool, **overrides: Any) -> None:
    """Show every topic, what the broker has against what the definitions want."""
    settings, definitions = _load(config_file, definitions_file, **overrides)
    try:
        statuses = describe(settings, definitions)
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in format_statuses(statuses):
        click.echo(line)
    drifting = sum(1 for status in statuses if not status.in_sync)
    if drifting:
        click.echo(f"{drifting} of {len(statuses)} topics differ from their definitions; "
                   "`kestra-stream topics apply` brings them in line", err=True)
        if check:
            raise click.exceptions.Exit(1)


def format_changes(changes: Sequence[TopicChange], *, dry_run: bool = False) -> list[str]:
    """One line per topic (what happened, its name), then its details indented."""
    width = max((len(change.topic) for change in changes), default=0)
    lines: list[str] = []
    for change in changes:
        kind = f"{'would be ' if dry_run and change.kind is not ChangeKind.UNCHANGED else ''}{change.kind.value}"
        lines.append(f"{change.topic:<{width}}  {kind}")
        lines.extend(f"    {detail}" for detail in change.details)
    return lines


def _actual_vs_desired(actual: object, desired: object) -> str:
    return str(desired) if actual == desired else f"{'-' if actual is None else actual} -> {desired}"


def format_statuses(statuses: Sequence[TopicStatus]) -> list[str]:
    """A table: logical name, topic, partitions and replicas (actual -> desired when they differ), status."""
    header = ("LOGICAL", "TOPIC", "PARTITIONS", "REPLICAS", "STATUS")
    rows = [(status.spec.logical, status.spec.name,
             _actual_vs_desired(status.partitions, status.spec.partitions),
             _actual_vs_desired(status.replication_factor, status.spec.replication_factor),
             "in sync" if status.in_sync else ("missing" if not status.exists else "drift"))
            for status in statuses]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    for status, row in zip(statuses, rows, strict=True):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        lines.extend(f"    {name}: {'-' if actual is None else actual} -> {desired}"
                     for name, (actual, desired) in status.config_drift.items())
    return lines
