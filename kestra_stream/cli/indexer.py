"""``kestra-stream indexer``: follow the Kafka topics into Elasticsearch until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click
import structlog

from kestra_stream.cli._preflight import require_services
from kestra_stream.errors import KestraStreamError
from kestra_stream.indexer import IndexerSettings, KafkaIndexer
from kestra_stream.kafka import KafkaSettings
from kestra_stream.search import ElasticsearchRepository
from kestra_stream.supervisor import announce_ready

log = structlog.get_logger(__name__)


@click.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML settings file (its kafka: section); KESTRA_STREAM_KAFKA_* variables override it")
@click.option("--bootstrap-servers", default=None, help="Kafka brokers, host:port[,host:port]")
@click.option("--prefix", "topic_prefix", default=None, help="Prefix of every topic name")
@click.option("--elasticsearch-url", envvar="KESTRA_STREAM_ELASTICSEARCH_URL", default="http://localhost:9200",
              show_default=True, help="Elasticsearch to index into")
@click.option("--index-prefix", default="kestra_stream", show_default=True, help="Prefix of the index names")
@click.option("--group-id", default=IndexerSettings().group_id, show_default=True, help="Kafka consumer group")
@click.option("--batch-size", type=click.IntRange(min=1), default=IndexerSettings().batch_size, show_default=True,
              help="Records per bulk request at most")
@click.option("--lag-every", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between two log lines with the lag")
def indexer(config_file: Path | None, bootstrap_servers: str | None, topic_prefix: str | None,
            elasticsearch_url: str, index_prefix: str, group_id: str, batch_size: int, lag_every: float) -> None:
    """Index executions, logs, flows and triggers from Kafka into Elasticsearch."""
    try:
        kafka = KafkaSettings.load(config_file, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix)
        require_services(kafka=kafka, elasticsearch_url=elasticsearch_url)
        repository = ElasticsearchRepository.connect(elasticsearch_url, prefix=index_prefix)
        repository.setup()
    except KestraStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    running = KafkaIndexer(kafka, repository, IndexerSettings(group_id=group_id, batch_size=batch_size))
    stopped = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    running.start()
    announce_ready(f"indexing {', '.join(running.topics)} into {elasticsearch_url} ({index_prefix}-*); Ctrl-C stops",
                   err=False)
    try:
        while not stopped.wait(lag_every):
            log.info("indexer_progress", **running.describe())
    finally:
        running.stop()
        repository.close()
