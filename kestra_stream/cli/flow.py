"""``kestra-stream flow ...``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import click

from kestra_stream.cli._kafka_options import kafka_options, kafka_settings
from kestra_stream.errors import BackendError, FlowProblem, FlowValidationError
from kestra_stream.flows import flow_files, flow_warnings, load_flow_file
from kestra_stream.kafka import KafkaFlowStore, KafkaSettings, apply_topics


@click.group()
def flow() -> None:
    """Work with flow files."""


@flow.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check flow files (or directories of *.yml / *.yaml) completely, reporting every problem.

    Prints ``OK <namespace>.<id>`` for each valid flow and ``FILE:LINE:COL: message (at path)``
    for each problem of an invalid one; exits with 1 when any flow is invalid. An expression that
    cannot be parsed is a ``warning:`` line under its flow's OK: as in Kestra, the flow is accepted
    and what renders that expression fails when it runs.
    """
    failed = False
    files: list[Path] = []
    for path in paths:
        try:
            found = flow_files([path])
        except FlowValidationError as exc:
            _report(exc.problems)
            failed = True
            continue
        if not found:
            _report([FlowProblem("no *.yml or *.yaml flow file in this directory", file=str(path))])
            failed = True
        files += found
    for file in files:
        try:
            loaded = load_flow_file(file)
        except FlowValidationError as exc:
            _report(exc.problems)
            failed = True
            continue
        click.echo(f"OK {loaded.namespace}.{loaded.id}")
        _report([replace(w, message=f"warning: {w.message}")
                 for w in flow_warnings(loaded.source or "", file=str(file))])
    if failed:
        raise SystemExit(1)


def _report(problems: list[FlowProblem]) -> None:
    for problem in problems:
        click.echo(str(problem))


@flow.command("deploy")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@kafka_options
def deploy(paths: tuple[Path, ...], config_file: Path | None, bootstrap_servers: str | None,
           topic_prefix: str | None, partitions: int | None) -> None:
    """Publish flow files (or directories) to the Kafka backend's flows topic, the source of truth.

    Every flow is checked first: nothing is published unless all are valid. A flow whose source
    changed becomes a new revision; an unchanged one is left as it is.
    """
    files = flow_files(paths)
    problems: list[FlowProblem] = []
    for file in files:
        try:
            load_flow_file(file)
        except FlowValidationError as exc:
            problems += exc.problems
    if problems:
        _report(problems)
        raise SystemExit(1)
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions)
    try:
        for line in asyncio.run(_publish(settings, files)):
            click.echo(line)
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc


async def _publish(settings: KafkaSettings, files: list[Path]) -> list[str]:
    apply_topics(settings)
    store = KafkaFlowStore(settings)
    await store.start()
    try:
        lines = []
        for file in files:
            flow = store.deploy(file.read_text(), file=str(file))
            lines.append(f"{flow.namespace}.{flow.id} revision {flow.revision}")
        return lines
    finally:
        await store.stop()
