"""``server standalone`` as a supervisor: each component in a process of its own, so every core works.

Children: the executor, ``--workers`` workers, the indexer, and the webserver holding the API with
the scheduler, flow and realtime triggers and the flows directory. The triggers sit with the API
because both follow the same flows and trigger state: one process reads those topics once, and the
scheduler's ticks are light next to the executor's fold and the workers' tasks, the two that get a
core of their own. The webserver starts once the others are ready, so that an answering API
means a running server, as in one process.

Every child is started through the component's own command with the supervisor's settings passed
explicitly (resolved Kafka settings, the settings file, home, Elasticsearch, API bind), and the
environment inherited, so a child reads what the supervisor read.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import click

from kestra_stream.api import ApiSettings
from kestra_stream.kafka import KafkaSettings, apply_topics
from kestra_stream.supervisor import ChildFailed, ChildSpec, RestartPolicy, Supervisor

POLICY = RestartPolicy()


@dataclass(frozen=True)
class StandaloneSettings:
    kafka: KafkaSettings
    api: ApiSettings
    home: Path
    flows: Path | None
    config_file: Path | None
    elasticsearch_url: str
    index_prefix: str
    log_level: str
    # The executor child's static group membership, kept across its restarts by this supervisor: restarted
    # after a crash, it takes its partitions back at once. Random, so that no two supervisors (two servers
    # on a host, or containers that share a hostname and pid 1) share one.
    executor_instance_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}")


def _command(settings: StandaloneSettings, *args: str) -> list[str]:
    # JSON whatever the user chose: the supervisor parses it and renders it in the user's format.
    return [sys.executable, "-m", "kestra_stream", "--log-format", "json", "--log-level", settings.log_level, *args]


def children(settings: StandaloneSettings, workers: int) -> list[ChildSpec]:
    home = str(settings.home.resolve())
    # The file still goes along: its other sections (storage, api) and Kafka settings with no option.
    config = ["--config", str(settings.config_file.resolve())] if settings.config_file else []
    kafka = [*config, "--bootstrap-servers", settings.kafka.bootstrap_servers,
             "--topic-prefix", settings.kafka.topic_prefix, "--partitions", str(settings.kafka.partitions)]
    search = ["--elasticsearch-url", settings.elasticsearch_url, "--index-prefix", settings.index_prefix]
    flows = ["--flows", str(settings.flows.resolve())] if settings.flows else []
    group = ["--worker-group", settings.kafka.worker_group_key] if settings.kafka.worker_group_key else []
    return [
        ChildSpec("executor", _command(settings, "executor", "--home", home, "--instance-id",
                                       settings.executor_instance_id, *kafka)),
        *(ChildSpec(f"worker-{n}", _command(settings, "worker", "--home", home, *search, *group, *kafka))
          for n in range(1, workers + 1)),
        # The indexer's own options: no partitions (it creates no topic), its prefix is --prefix.
        ChildSpec("indexer", _command(settings, "indexer", *config, "--bootstrap-servers",
                                      settings.kafka.bootstrap_servers, "--prefix", settings.kafka.topic_prefix,
                                      *search)),
        # Last, as in one process: once the API answers, the executor and the workers run behind it.
        ChildSpec("webserver", _command(settings, "webserver", "--triggers", "--home", home, *search, *flows,
                                        "--host", settings.api.host, "--port", str(settings.api.port), *kafka),
                  start_last=True),
    ]


def supervise_standalone(settings: StandaloneSettings, workers: int) -> None:
    """Run the children until SIGTERM/SIGINT; a ``ClickException`` when one of them keeps dying."""
    # Before any child: a worker subscribing to a topic not yet created would wait for a metadata refresh.
    apply_topics(settings.kafka)
    specs = children(settings, workers)
    click.echo(f"kestra-stream standalone server: starting {', '.join(spec.name for spec in specs)}", err=True)

    def ready(name: str, pid: int) -> None:
        click.echo(f"  {name} ready (pid {pid})", err=True)

    def all_ready() -> None:
        api = settings.api
        click.echo(f"kestra-stream standalone server on Kafka {settings.kafka.bootstrap_servers} "
                   f"(topics {settings.kafka.topic_prefix}*), search {settings.elasticsearch_url}, "
                   f"API on http://{api.host}:{api.port}"
                   + (f", flows from {settings.flows.resolve()}" if settings.flows else "")
                   + f" ({len(specs)} processes)", err=True)

    try:
        asyncio.run(Supervisor(specs, POLICY, on_ready=ready, on_all_ready=all_ready).run())
    except ChildFailed as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("stopped", err=True)
