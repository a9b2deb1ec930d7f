"""``kestra-stream execution resume ID``: act on an execution of the Kafka backend from another shell.

An execution on Kafka outlives the process that started it: whichever executor holds its
partition carries out the request, be it `execute --backend kafka` in another terminal,
`server standalone` or `kestra-stream executor`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import click

from kestra_stream.cli._inputs import parse_inputs
from kestra_stream.cli._kafka_options import kafka_options, kafka_settings, storage_for, storage_settings
from kestra_stream.cli._preflight import require_services
from kestra_stream.errors import BackendError, InputError
from kestra_stream.kafka import KafkaExecutions, KafkaFlowStore, KafkaSettings
from kestra_stream.models.state import StateType
from kestra_stream.storage import Storage

EXIT_INVALID = 2
TAKEN_WITHIN_SECONDS = 60.0


async def resume_on_kafka(settings: KafkaSettings, storage: Storage, execution_id: str,
                          inputs: dict[str, str]) -> StateType:
    """Resume a paused execution; its state once an executor took the request.

    A client only: the flows and executions topics are read, the executor topic written; topics
    are neither created nor changed (their partition count is not this command's to decide).
    """
    flows = KafkaFlowStore(settings)
    executions = KafkaExecutions(settings, flows, storage=storage)
    await flows.start()
    try:
        await executions.start()
        try:
            return await _resume(settings, executions, execution_id, inputs)
        finally:
            await executions.stop()
    finally:
        await flows.stop()


async def _resume(settings: KafkaSettings, executions: KafkaExecutions, execution_id: str,
                  inputs: dict[str, str]) -> StateType:
    state = await executions.load(execution_id)
    if state is None:
        raise click.ClickException(f"execution {execution_id} does not exist on Kafka at "
                                   f"{settings.bootstrap_servers} (topics {settings.topic_prefix}*)")
    current = state.execution.state.current
    if current != StateType.PAUSED:
        raise click.ClickException(f"execution {execution_id} is {current.value}, not PAUSED: only a paused "
                                   "execution can be resumed")
    await executions.resume(execution_id, inputs, from_text=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TAKEN_WITHIN_SECONDS
    while (now := executions.state(execution_id)) is not None and now.execution.state.current == StateType.PAUSED:
        if loop.time() > deadline:
            raise click.ClickException(
                f"no executor took the request within {TAKEN_WITHIN_SECONDS:g} s: is one running (`kestra-stream "
                "executor`, `server standalone`, or the `execute --backend kafka` that started it)?")
        await asyncio.sleep(0.1)
    return now.execution.state.current if now is not None else current


@click.group("execution")
def execution() -> None:
    """Act on an execution of the Kafka backend (from any shell)."""


@execution.command("resume")
@click.argument("execution_id")
@click.option("--input", "-i", "input_pairs", multiple=True, metavar="KEY=VALUE",
              help="An onResume input of the Pause task, as typed in a form (repeat for several).")
@kafka_options
def resume(execution_id: str, input_pairs: tuple[str, ...], config_file: Path | None, bootstrap_servers: str | None,
           topic_prefix: str | None, partitions: int | None) -> None:
    """Resume a PAUSED execution; returns once an executor took the request.

    Exit code 0 once resumed, 1 when it cannot be (unknown, not paused, no executor), 2 for an
    invalid onResume input.
    """
    inputs = parse_inputs(input_pairs)
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions)
    require_services(kafka=settings, storage=storage_settings(config_file))
    with tempfile.TemporaryDirectory(prefix="kestra-stream-") as tmp:
        try:
            state = asyncio.run(resume_on_kafka(settings, storage_for(config_file, Path(tmp)), execution_id, inputs))
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_INVALID) from exc
        except BackendError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"execution {execution_id} resumed: {state.value}")
