"""One component per process on the Kafka backend: `kestra-stream executor`, `kestra-stream worker`.

Scale workers by starting more worker processes (they share the jobs topic as one consumer
group) and executors up to the partition count of the executor topic.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kestra_stream.cli._kafka_options import (
    kafka_options,
    kafka_settings,
    storage_for,
    storage_settings,
    with_worker_group,
)
from kestra_stream.cli._preflight import require_services
from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaFlowStore, KafkaSettings, apply_topics
from kestra_stream.storage import Storage
from kestra_stream.supervisor import announce_ready

if TYPE_CHECKING:
    from kestra_stream.kafka import KafkaStack
    from kestra_stream.scheduler import TriggerTopicSwitch
    from kestra_stream.search import ElasticsearchRepository


async def _until_signalled(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
                           banner: str | Callable[[], str]) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await start()
    announce_ready(banner if isinstance(banner, str) else banner())
    try:
        await stopping.wait()
    finally:
        await stop()


async def _run_executor(settings: KafkaSettings, storage: Storage) -> None:
    from kestra_stream.kafka.executor import create_executor
    from kestra_stream.templates import template_injector

    apply_topics(settings)
    flows = KafkaFlowStore(settings)
    await flows.start()
    # Internal storage holds the templates flow.Template tasks include (read only when templates are on).
    executor = create_executor(settings, flows, templates=template_injector(storage))
    try:
        await _until_signalled(executor.start, executor.stop, f"executor running on Kafka "
                               f"{settings.bootstrap_servers} (topics {settings.topic_prefix}*)")
    finally:
        await flows.stop()


def worker_stack(settings: KafkaSettings, storage: Storage, home: Path, search: ElasticsearchRepository | None,
                 indexer_group_id: str) -> tuple[KafkaStack, TriggerTopicSwitch]:
    """A worker with what its tasks reach beyond their job: the request path (Resume), the triggers topic
    (Toggle) and, given Elasticsearch, the history (log.Fetch, Count, purges). It follows neither the
    executions nor the logs topic: its CPU and memory are its tasks'."""
    from kestra_stream.indexer import use_indexed_history
    from kestra_stream.kafka import KafkaStack
    from kestra_stream.scheduler import TriggerTopicSwitch

    stack = KafkaStack(settings, home=home, storage=storage, executor=False, worker=True, follow_executions=False)
    triggers = TriggerTopicSwitch(settings)
    stack.services.use_triggers(triggers)
    if search is not None:
        use_indexed_history(stack, search, group_id=indexer_group_id)
    return stack, triggers


async def _run_worker(settings: KafkaSettings, storage: Storage, home: Path, search: ElasticsearchRepository | None,
                      indexer_group_id: str) -> None:
    stack, triggers = worker_stack(settings, storage, home, search, indexer_group_id)

    async def stop() -> None:
        await stack.stop()
        await triggers.stop()
        if search is not None:
            search.close()

    def banner() -> str:
        assert stack.worker is not None
        serves = f"worker group '{settings.worker_group_key}'" if settings.worker_group_key else "no worker group"
        return f"worker {stack.worker.worker_id} running in group {settings.worker_consumer_group} ({serves})"

    await _until_signalled(stack.start, stop, banner)


def _indexer_group_id() -> str:
    from kestra_stream.indexer import IndexerSettings  # on use: the indexer's imports are not the CLI's

    return IndexerSettings().group_id


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(coroutine)
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("executor")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".kestra-stream"),
              show_default=True, help="Where local storage is (the workers' --home), read for the templates of "
                                      "flow.Template tasks when KESTRA_STREAM_TEMPLATES_ENABLED=true.")
@click.option("--instance-id", default=None,
              help="Static membership of the executor group (KESTRA_STREAM_KAFKA_EXECUTOR_INSTANCE_ID): restarted "
                   "under the same id after a crash, the executor takes its partitions back at once instead of "
                   "waiting for the group's session timeout. Unique per running executor (a StatefulSet pod name).")
@kafka_options
def executor(home: Path, instance_id: str | None, config_file: Path | None, bootstrap_servers: str | None,
             topic_prefix: str | None, partitions: int | None) -> None:
    """The executor alone: folds the executor topic into execution states (faust-streaming)."""
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions)
    if instance_id:
        settings = settings.model_copy(update={"executor_instance_id": instance_id})
    require_services(kafka=settings)
    _run(_run_executor(settings, storage_for(config_file, home)))


@click.command("worker")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".kestra-stream"),
              show_default=True, help="Where the worker keeps working directories and local storage.")
@click.option("--elasticsearch-url", envvar="KESTRA_STREAM_ELASTICSEARCH_URL", default=None,
              help="The indexer's Elasticsearch, where log.Fetch, execution.Count, PurgeExecutions and log.PurgeLogs "
                   "read and delete executions and logs; without it those tasks fail saying so.")
@click.option("--index-prefix", default="kestra_stream", show_default=True,
              help="Prefix of the indexer's index names.")
@click.option("--indexer-group-id", default=_indexer_group_id, show_default="the indexer's default",
              help="The indexer's consumer group (its --group-id): those tasks read once it has caught up.")
@click.option("--worker-group", "worker_group", default=None, metavar="KEY",
              help="Take only the tasks whose workerGroup key (the task's, else its flow's) is KEY "
                   "(KESTRA_STREAM_KAFKA_WORKER_GROUP_KEY); without it, only the tasks of no worker group.")
@kafka_options
def worker(home: Path, elasticsearch_url: str | None, index_prefix: str, indexer_group_id: str,
           worker_group: str | None, config_file: Path | None, bootstrap_servers: str | None,
           topic_prefix: str | None, partitions: int | None) -> None:
    """A worker alone: one more member of the worker consumer group (of its worker group)."""
    settings = with_worker_group(kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions),
                                 worker_group)
    # Elasticsearch is not required to start: a worker restarted while it is down runs every other task.
    require_services(kafka=settings, storage=storage_settings(config_file))
    search = None
    if elasticsearch_url:
        from kestra_stream.search import ElasticsearchRepository

        search = ElasticsearchRepository.connect(elasticsearch_url, prefix=index_prefix)
    _run(_run_worker(settings, storage_for(config_file, home), home, search, indexer_group_id))
