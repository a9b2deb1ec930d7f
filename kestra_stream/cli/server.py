"""``kestra-stream server local`` and ``server standalone``: a backend, its search index and the REST API.

``server standalone`` supervises one child process per component (``_standalone``); with
``--in-process``, and for ``server local``, every component runs in this process. Each in-process
server is one ``AsyncExitStack`` of components, started in order and stopped in reverse
(the API first, so no request reaches a stopped backend); a new component (a scheduler, trigger
runners) is one more ``enter_async_context`` in ``_local_components`` / ``_standalone_components``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from kestra_stream.api import ApiServices, ApiSettings, serving
from kestra_stream.backend import Backend
from kestra_stream.cli._kafka_options import (
    kafka_options,
    kafka_settings,
    storage_for,
    storage_settings,
    with_worker_group,
    worker_group_option,
)
from kestra_stream.cli._preflight import require_services
from kestra_stream.cli._standalone import POLICY, StandaloneSettings, supervise_standalone
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import BackendError, FlowValidationError, KestraStreamError
from kestra_stream.flows import flow_files
from kestra_stream.indexer import EmbeddedIndexer, IndexerSettings, KafkaIndexer, use_indexed_history
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.plugins import default_registry
from kestra_stream.scheduler import EmbeddedScheduler, KafkaScheduler, TriggerStore, disabled_in, set_disabled
from kestra_stream.search import ElasticsearchRepository, SqliteRepository
from kestra_stream.storage import Storage
from kestra_stream.triggers import FlowTriggers, RealtimeTriggers
from kestra_stream.waiting import wait_set

log = structlog.get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_HOME = Path(".kestra-stream")
DEFAULT_ELASTICSEARCH_URL = "http://localhost:9200"
SEARCH_DB = "search.db"


class FlowWatcher:
    """Deploys every flow file of a directory, and again whenever one changes (polling, no extra dependency)."""

    def __init__(self, engine: Backend, directory: Path) -> None:
        self._engine = engine
        self._directory = directory
        self._seen: dict[Path, float] = {}

    def scan(self) -> int:
        """Deploy the files that changed since the last scan; returns how many flows were deployed."""
        deployed = 0
        for path in flow_files([self._directory]):
            mtime = path.stat().st_mtime
            if self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            try:
                flow = self._engine.deploy(path.read_text(), file=str(path))
                deployed += 1
                log.info("flow_deployed", flow=f"{flow.namespace}.{flow.id}", revision=flow.revision,
                         file=str(path))
            except FlowValidationError as exc:
                log.error("flow_invalid", file=str(path), problems=[str(p) for p in exc.problems])
        return deployed


async def serve(backend: Backend, flows: Path | None, poll_seconds: float = 2.0,
                on_deploy: Callable[[], object] | None = None) -> None:
    """Run until SIGINT / SIGTERM, deploying the flows of ``flows`` as they change (then ``on_deploy``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = FlowWatcher(backend, flows) if flows else None
    while not stop.is_set():
        if watcher and watcher.scan() and on_deploy is not None:
            on_deploy()
        await wait_set(stop, poll_seconds)


@contextlib.asynccontextmanager
async def _embedded_indexer(engine: EmbeddedEngine, search: SqliteRepository) -> AsyncIterator[EmbeddedIndexer]:
    indexer = EmbeddedIndexer(engine, search)
    await indexer.start()
    try:
        yield indexer
    finally:
        await indexer.stop()


@contextlib.asynccontextmanager
async def _kafka_indexer(settings: KafkaSettings, search: ElasticsearchRepository) -> AsyncIterator[KafkaIndexer]:
    indexer = KafkaIndexer(settings, search, IndexerSettings())
    indexer.start()  # its own thread
    try:
        yield indexer
    finally:
        await asyncio.to_thread(indexer.stop)


def _elasticsearch(stack: contextlib.AsyncExitStack, url: str, prefix: str) -> ElasticsearchRepository:
    search = ElasticsearchRepository.connect(url, prefix=prefix)
    stack.callback(search.close)
    search.setup()
    return search


async def enter_trigger_components(stack: contextlib.AsyncExitStack, kafka: KafkaStack, home: Path) -> TriggerStore:
    """The scheduler, flow triggers and realtime triggers of a Kafka process; returns the trigger state.

    Any number of processes may run them: schedulers share the triggers through their consumer
    group, realtime listeners through theirs, and a firing seen twice starts one execution.
    """
    scheduler = await stack.enter_async_context(
        KafkaScheduler(kafka, kafka.flows, kafka.settings, storage=kafka.storage))
    kafka.services.use_triggers(partial(set_disabled, scheduler.store))
    disabled = disabled_in(scheduler.store)
    await stack.enter_async_context(FlowTriggers.on_kafka(kafka, kafka.flows, kafka.settings, home=home,
                                                          disabled=disabled, storage=kafka.storage))
    await stack.enter_async_context(RealtimeTriggers(kafka, kafka.flows, kafka.storage, disabled=disabled,
                                                     groups=kafka.settings.trigger_groups))
    return scheduler.store


async def serve_local(home: Path, flows: Path | None, api: ApiSettings | None = None,
                      storage: Storage | None = None, worker_groups: tuple[str, ...] = ()) -> None:
    api = api or ApiSettings()
    async with contextlib.AsyncExitStack() as stack:
        engine = await stack.enter_async_context(EmbeddedEngine(home, storage=storage, worker_groups=worker_groups))
        search = SqliteRepository(home / SEARCH_DB)
        stack.callback(search.close)
        indexer = await stack.enter_async_context(_embedded_indexer(engine, search))
        scheduler = await stack.enter_async_context(EmbeddedScheduler(engine))
        disabled = disabled_in(scheduler.store)
        await stack.enter_async_context(FlowTriggers(engine, engine.flows, home=home, disabled=disabled,
                                                     storage=engine.storage))
        await stack.enter_async_context(RealtimeTriggers(engine, engine.flows, engine.storage, disabled=disabled,
                                                         groups=engine.trigger_groups))
        await stack.enter_async_context(serving(ApiServices(
            backend=engine, flows=engine.flows, search=search, storage=engine.storage, registry=default_registry(),
            settings=api, backend_name="embedded", triggers=scheduler.store)))
        click.echo(f"kestra-stream embedded server: home {home.resolve()}, API on http://{api.host}:{api.port}"
                   + (f", flows from {flows.resolve()}" if flows else ""), err=True)
        await serve(engine, flows, on_deploy=indexer.sync_flows)
    click.echo("stopped", err=True)


async def serve_standalone(settings: KafkaSettings, storage: Storage, home: Path, flows: Path | None,
                           api: ApiSettings | None = None, elasticsearch_url: str = DEFAULT_ELASTICSEARCH_URL,
                           index_prefix: str = "kestra_stream") -> None:
    api = api or ApiSettings()
    async with contextlib.AsyncExitStack() as stack:
        search = _elasticsearch(stack, elasticsearch_url, index_prefix)
        kafka = await stack.enter_async_context(KafkaStack(settings, home=home, storage=storage))
        await stack.enter_async_context(_kafka_indexer(settings, search))
        use_indexed_history(kafka, search)
        triggers = await enter_trigger_components(stack, kafka, home)
        await stack.enter_async_context(serving(ApiServices(
            backend=kafka, flows=kafka.flows, search=search, storage=kafka.storage, registry=default_registry(),
            settings=api, backend_name="kafka", triggers=triggers)))
        click.echo(f"kestra-stream standalone server on Kafka {settings.bootstrap_servers} "
                   f"(topics {settings.topic_prefix}*), search {elasticsearch_url}, API on http://{api.host}:{api.port}"
                   + (f", flows from {flows.resolve()}" if flows else ""), err=True)
        await serve(kafka, flows)
    click.echo("stopped", err=True)


def api_settings(config_file: Path | None, host: str | None, port: int | None) -> ApiSettings:
    """The ``api:`` section of the settings file (and ``KESTRA_STREAM_API_*``), then the command's options."""
    try:
        settings = ApiSettings.load(config_file)
        overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        return ApiSettings.model_validate({**settings.model_dump(), **overrides}) if overrides else settings
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc


def api_options(command: F) -> F:
    command = click.option("--port", type=click.IntRange(0, 65535), default=None,
                           help="Port of the REST API (default 8080, or the settings file's api.port).")(command)
    return click.option("--host", default=None,
                        help="Address the REST API listens on (default 127.0.0.1, or the settings file's api.host "
                             "or KESTRA_STREAM_API_HOST); 0.0.0.0 exposes it to the network."
                        )(command)


@click.group()
def server() -> None:
    """Run the kestra-stream server."""


@server.command("local")
@click.option("--flows", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory of flows to deploy and watch for changes.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_HOME,
              show_default=True, help="Where the embedded backend keeps its SQLite files and storage.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A YAML settings file (its `api:` and `storage:` sections); KESTRA_STREAM_API_* variables "
                   "override it.")
@worker_group_option
@api_options
def local(flows: Path | None, home: Path, config_file: Path | None, worker_groups: tuple[str, ...],
          host: str | None, port: int | None) -> None:
    """The embedded backend, its search index and the REST API in one process."""
    settings = api_settings(config_file, host, port)
    require_services(storage=storage_settings(config_file))
    try:
        asyncio.run(serve_local(home, flows, settings, storage_for(config_file, home), worker_groups))
    except (BackendError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@server.command("standalone", epilog=f"Supervision: {POLICY.describe()}.")
@click.option("--backend", type=click.Choice(["kafka"]), default="kafka", show_default=True)
@click.option("--flows", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory of flows to publish to the flows topic and watch for changes.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_HOME,
              show_default=True, help="Where the worker keeps working directories and local storage.")
@click.option("--elasticsearch-url", envvar="KESTRA_STREAM_ELASTICSEARCH_URL", default=DEFAULT_ELASTICSEARCH_URL,
              show_default=True, help="Elasticsearch the indexer writes to and the API searches.")
@click.option("--index-prefix", default="kestra_stream", show_default=True, help="Prefix of the index names.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (members of one worker group).")
@click.option("--in-process", is_flag=True,
              help="Every component in this one process (one interpreter lock) instead of one child process "
                   "each; --workers does not apply.")
@click.option("--worker-group-key", default=None, metavar="KEY",
              help="The workers take only the tasks of this workerGroup key (the task's, else its flow's), and "
                   "the scheduler evaluates only the polling and realtime triggers of that key; without it, "
                   "only the tasks and triggers of no worker group.")
@api_options
@kafka_options
def standalone(backend: str, flows: Path | None, home: Path, elasticsearch_url: str, index_prefix: str,
               workers: int, in_process: bool, worker_group_key: str | None, host: str | None, port: int | None,
               config_file: Path | None, bootstrap_servers: str | None, topic_prefix: str | None,
               partitions: int | None) -> None:
    """Every component of the Kafka backend, the indexer, the triggers and the REST API: the executor,
    the workers, the indexer and the webserver (with the scheduler and triggers) each in a child
    process, their logs merged into this command's (each line with its component and pid). Ctrl-C or
    SIGTERM stops them all (SIGTERM to each, SIGKILL to those still running 20 s later) and exits 0;
    the children die with a killed supervisor."""
    if in_process and workers != 1:
        raise click.UsageError("--workers needs child processes: drop --in-process or --workers")
    settings = with_worker_group(kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions),
                                 worker_group_key)
    api = api_settings(config_file, host, port)
    require_services(kafka=settings, elasticsearch_url=elasticsearch_url, storage=storage_settings(config_file))
    try:
        if in_process:
            asyncio.run(serve_standalone(settings, storage_for(config_file, home), home, flows, api,
                                         elasticsearch_url, index_prefix))
        else:
            log_level = str(click.get_current_context().find_root().params["log_level"])
            supervise_standalone(StandaloneSettings(
                kafka=settings, api=api, home=home, flows=flows, config_file=config_file,
                elasticsearch_url=elasticsearch_url, index_prefix=index_prefix, log_level=log_level), workers)
    except (BackendError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
