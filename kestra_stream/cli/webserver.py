"""``kestra-stream webserver``: the REST API alone over the Kafka backend.

No executor and no worker run here: requests become events on the Kafka topics, the executions
client follows their states, and searches read Elasticsearch (kept up to date by
``kestra-stream indexer``). Run as many webservers as the traffic needs, behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from kestra_stream.api import ApiServices, ApiSettings, serving
from kestra_stream.cli._kafka_options import kafka_options, kafka_settings, storage_for, storage_settings
from kestra_stream.cli._preflight import require_services
from kestra_stream.cli.server import (
    DEFAULT_ELASTICSEARCH_URL,
    DEFAULT_HOME,
    api_options,
    api_settings,
    enter_trigger_components,
    serve,
)
from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.plugins import default_registry
from kestra_stream.scheduler import KafkaTriggerStore, TriggerStore
from kestra_stream.search import ElasticsearchRepository
from kestra_stream.storage import Storage
from kestra_stream.supervisor import announce_ready, supervised


async def serve_webserver(settings: KafkaSettings, storage: Storage, home: Path, api: ApiSettings,
                          elasticsearch_url: str = DEFAULT_ELASTICSEARCH_URL,
                          index_prefix: str = "kestra_stream", flows: Path | None = None,
                          with_triggers: bool = False) -> None:
    async with contextlib.AsyncExitStack() as stack:
        search = ElasticsearchRepository.connect(elasticsearch_url, prefix=index_prefix)
        stack.callback(search.close)
        search.setup()
        kafka = await stack.enter_async_context(
            KafkaStack(settings, home=home, storage=storage, executor=False, worker=False))
        triggers: TriggerStore
        if with_triggers:
            triggers = await enter_trigger_components(stack, kafka, home)
        else:
            # Trigger state is read and changed here; the schedulers firing the triggers follow the same topic.
            triggers = await stack.enter_async_context(KafkaTriggerStore(settings))
        await stack.enter_async_context(serving(ApiServices(
            backend=kafka, flows=kafka.flows, search=search, storage=kafka.storage, registry=default_registry(),
            settings=api, backend_name="kafka", triggers=triggers)))
        with_ = (", with the scheduler and triggers" if with_triggers else "") + (
            f", flows from {flows.resolve()}" if flows else "")
        announce_ready(f"kestra-stream webserver on Kafka {settings.bootstrap_servers} "
                       f"(topics {settings.topic_prefix}*), search {elasticsearch_url}, "
                       f"API on http://{api.host}:{api.port}{with_}")
        await serve(kafka, flows)
    if not supervised():
        click.echo("stopped", err=True)


@click.command("webserver")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_HOME, show_default=True,
              help="Where local storage is kept when the settings file names no MinIO.")
@click.option("--elasticsearch-url", envvar="KESTRA_STREAM_ELASTICSEARCH_URL", default=DEFAULT_ELASTICSEARCH_URL,
              show_default=True, help="Elasticsearch the API searches (written by `kestra-stream indexer`).")
@click.option("--index-prefix", default="kestra_stream", show_default=True, help="Prefix of the index names.")
@click.option("--flows", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory of flows to publish to the flows topic and watch for changes.")
@click.option("--triggers", "with_triggers", is_flag=True,
              help="Also run the scheduler, flow triggers and realtime triggers here (as `server standalone` "
                   "does), instead of in `kestra-stream scheduler` processes.")
@api_options
@kafka_options
def webserver(home: Path, elasticsearch_url: str, index_prefix: str, flows: Path | None, with_triggers: bool,
              host: str | None, port: int | None, config_file: Path | None, bootstrap_servers: str | None,
              topic_prefix: str | None, partitions: int | None) -> None:
    """The REST API alone on the Kafka backend (no executor, no worker)."""
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions)
    api = api_settings(config_file, host, port)
    require_services(kafka=settings, elasticsearch_url=elasticsearch_url, storage=storage_settings(config_file))
    try:
        asyncio.run(serve_webserver(settings, storage_for(config_file, home), home, api, elasticsearch_url,
                                    index_prefix, flows, with_triggers))
    except (BackendError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
