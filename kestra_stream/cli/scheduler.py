"""``kestra-stream scheduler``: the scheduler alone on Kafka, until interrupted.

Start several for availability: they share the triggers as one consumer group on the triggers
topic, each firing the triggers of its partitions; a date is fired once whichever fires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click

from kestra_stream.cli._kafka_options import (
    kafka_options,
    kafka_settings,
    storage_for,
    storage_settings,
    with_worker_group,
)
from kestra_stream.cli._preflight import require_services
from kestra_stream.errors import KestraStreamError
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.scheduler import KafkaScheduler, disabled_in
from kestra_stream.scheduler._cron import zone
from kestra_stream.storage import Storage
from kestra_stream.triggers import FlowTriggers, RealtimeTriggers


async def _run_scheduler(settings: KafkaSettings, storage: Storage, home: Path, *, tick: float, timezone: str,
                         group_id: str | None) -> None:
    # Only the executions client and the flows topic: the executor and the workers run elsewhere.
    stack = KafkaStack(settings, home=home, storage=storage, executor=False, worker=False)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with stack, contextlib.AsyncExitStack() as components:
        scheduler = await components.enter_async_context(KafkaScheduler(
            stack, stack.flows, settings, storage=storage, tick_seconds=tick, default_timezone=timezone,
            group_id=group_id))
        disabled = disabled_in(scheduler.store)
        await components.enter_async_context(FlowTriggers.on_kafka(stack, stack.flows, settings, home=home,
                                                                   disabled=disabled, storage=storage))
        await components.enter_async_context(RealtimeTriggers(stack, stack.flows, storage, disabled=disabled,
                                                              groups=settings.trigger_groups))
        click.echo(f"scheduler running (group {scheduler.ownership.group_id}), with flow and realtime triggers; "
                   "Ctrl-C stops")
        await stopping.wait()


@click.command("scheduler")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".kestra-stream"),
              show_default=True, help="Where local storage lives (when the settings name no MinIO).")
@click.option("--tick", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between two evaluations at most (a due date wakes the scheduler earlier).")
@click.option("--timezone", envvar="KESTRA_STREAM_TIMEZONE", default="UTC", show_default=True,
              help="Time zone of schedules that name none (an IANA name such as Europe/Paris).")
@click.option("--group-id", default=None, help="Consumer group sharing the triggers (default <prefix>-scheduler; "
                                                "with --worker-group, suffixed -KEY).")
@click.option("--worker-group", "worker_group", default=None, metavar="KEY",
              help="Evaluate only the polling and realtime triggers whose workerGroup key is KEY (run it where "
                   "that group's workers are; KESTRA_STREAM_KAFKA_WORKER_GROUP_KEY); without it, every trigger "
                   "of no worker group: schedules, flow triggers and the others.")
@kafka_options
def scheduler(home: Path, tick: float, timezone: str, group_id: str | None, worker_group: str | None,
              config_file: Path | None, bootstrap_servers: str | None, topic_prefix: str | None,
              partitions: int | None) -> None:
    """The triggers component on Kafka: schedules, polling, flow and realtime triggers (run any number)."""
    settings = with_worker_group(kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions),
                                 worker_group)
    require_services(kafka=settings, storage=storage_settings(config_file))
    try:
        zone(timezone)
        asyncio.run(_run_scheduler(settings, storage_for(config_file, home), home, tick=tick, timezone=timezone,
                                   group_id=group_id))
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
