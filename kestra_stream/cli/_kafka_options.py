"""Options every command talking to Kafka shares: a settings file plus overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kestra_stream.errors import BackendError
from kestra_stream.storage import Storage, StorageSettings

if TYPE_CHECKING:
    from kestra_stream.kafka import KafkaSettings

F = TypeVar("F", bound=Callable[..., Any])


def kafka_options(command: F) -> F:
    for option in reversed([
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="A YAML settings file (its `kafka:` section); KESTRA_STREAM_KAFKA_* variables override it."),
        click.option("--bootstrap-servers", default=None, help="Kafka bootstrap servers (default localhost:9092)."),
        click.option("--topic-prefix", default=None, help="Prefix of every topic name."),
        click.option("--partitions", type=int, default=None, help="Partitions of the topics keyed by execution id."),
    ]):
        command = option(command)
    return command


def kafka_settings(config_file: Path | None, bootstrap_servers: str | None, topic_prefix: str | None,
                   partitions: int | None) -> KafkaSettings:
    # Here, not at the top: `execute` on the embedded engine carries these options and never reads them.
    from kestra_stream.kafka import KafkaSettings

    try:
        return KafkaSettings.load(config_file, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix,
                                  partitions=partitions)
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc


def with_worker_group(settings: KafkaSettings, key: str | None) -> KafkaSettings:
    """``settings`` whose worker serves the workerGroup ``key`` (None: as the settings say)."""
    if not key:
        return settings
    from pydantic import ValidationError

    try:
        return type(settings).model_validate({**settings.model_dump(), "worker_group_key": key})
    except ValidationError as exc:
        raise click.BadParameter(f"{key!r} is no worker group key (letters, digits, _ and -, not first): "
                                 f"{exc.errors()[0]['msg']}") from None


def worker_group_keys(_ctx: click.Context, _param: click.Parameter, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A click callback: the ``--worker-group`` keys, each a valid workerGroup key."""
    import re

    from kestra_stream.models.task import TASK_ID_PATTERN

    for key in keys:
        if not re.fullmatch(TASK_ID_PATTERN, key):
            raise click.BadParameter(f"{key!r} is no worker group key (letters, digits, _ and -, not first)")
    return keys


def worker_group_option(command: F) -> F:
    """``--worker-group KEY`` (repeatable) of the commands whose in-process workers serve worker groups."""
    return click.option(
        "--worker-group", "worker_groups", multiple=True, metavar="KEY", callback=worker_group_keys,
        help="The in-process workers also take the tasks, and the scheduler the polling and realtime triggers, "
             "of this workerGroup key (repeat for several; the embedded engine only); a task of any other "
             "group has no live worker and follows its fallback (WAIT, FAIL, CANCEL).")(command)


def storage_settings(config_file: Path | None) -> StorageSettings:
    """The settings file's ``storage:`` section (and ``KESTRA_STREAM_STORAGE_*``)."""
    try:
        return StorageSettings.load(config_file)
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc


def storage_for(config_file: Path | None, home: Path) -> Storage:
    """Internal storage from the settings file's ``storage:`` section (local directory by default)."""
    try:
        return storage_settings(config_file).build(home)
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc
