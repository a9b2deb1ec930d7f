"""``kestra-stream execute FLOW.yaml``: one execution, to its end, on a fresh embedded engine."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kestra_stream.backend import Backend
from kestra_stream.cli._kafka_options import kafka_options, kafka_settings, storage_for
from kestra_stream.embedded import EmbeddedEngine, FlowNotFoundError
from kestra_stream.errors import BackendError, ExecutionBlockedError, FlowValidationError, InputError
from kestra_stream.executor._flow_rules import retry_execution_id
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.flows import flow_files, load_flow_file
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.storage import Storage

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
_STYLE = {"SUCCESS": "green", "WARNING": "yellow", "FAILED": "red", "KILLED": "red", "RUNNING": "cyan",
          "PAUSED": "magenta", "RETRYING": "yellow", "SKIPPED": "dim", "CREATED": "dim", "CANCELLED": "red"}


def parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` as typed in a form; ``KEY=@PATH`` gives a local file to a FILE input."""
    inputs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write inputs as KEY=VALUE (or KEY=@PATH for a file)",
                                     param_hint="--input")
        inputs[key] = Path(value[1:]).resolve().as_uri() if value.startswith("@") else value
    return inputs


def execution_document(execution: Execution, logs: list[LogEntry] | None) -> dict[str, Any]:
    document: dict[str, Any] = execution.model_dump(mode="json", by_alias=True, exclude_none=False)
    if logs is not None:
        document["logs"] = [
            {"taskId": e.task_id, "taskRunId": e.taskrun_id, "level": e.level.value, "message": e.message,
             "timestamp": e.timestamp.isoformat()} for e in logs]
    return document


def _progress(execution: Execution) -> Table:
    table = Table(title=f"{execution.namespace}.{execution.flow_id}  {execution.id}  "
                        f"[{_STYLE.get(execution.state.current.value, '')}]{execution.state.current.value}")
    table.add_column("task")
    table.add_column("value")
    table.add_column("state")
    table.add_column("attempts", justify="right")
    for tr in execution.task_run_list:
        state = tr.state.current.value
        table.add_row(tr.task_id, tr.value or "", f"[{_STYLE.get(state, '')}]{state}", str(len(tr.attempts)))
    return table


async def run_one(flow_path: Path, flows_dir: Path | None, inputs: dict[str, str], *, backend: Backend,
                  live: bool) -> tuple[Execution, list[LogEntry]]:
    for path in flow_files([flows_dir]) if flows_dir else []:
        backend.deploy(path.read_text(), file=str(path))
    flow = backend.deploy(flow_path.read_text(), file=str(flow_path))
    console = Console(stderr=True)
    with Live(console=console, refresh_per_second=8, transient=False) if live else _NoLive() as display:
        if live:
            def show(state: ExecutionState) -> None:
                if state.execution.namespace == flow.namespace and state.execution.flow_id == flow.id:
                    display.update(_progress(state.execution))
            backend.subscribe(show)
        execution_id = await backend.create_execution(flow.namespace, flow.id, inputs, from_text=True)
        execution = await backend.wait(execution_id)
        while execution.state.current == StateType.RETRIED:
            # A flow retry with CREATE_NEW_EXECUTION: the flow's outcome is that of the last try.
            execution_id = retry_execution_id(execution.id)
            execution = await backend.wait(execution_id)
        if live:
            display.update(_progress(execution))
    return execution, backend.logs(execution_id)


async def run_on(backend_name: str, settings: KafkaSettings | None, storage: Storage, home: Path, flow_path: Path,
                 flows_dir: Path | None, inputs: dict[str, str], live: bool) -> tuple[Execution, list[LogEntry]]:
    if backend_name == "kafka":
        assert settings is not None
        async with KafkaStack(settings, home=home, storage=storage) as stack:
            return await run_one(flow_path, flows_dir, inputs, backend=stack, live=live)
    async with EmbeddedEngine(home, storage=storage) as engine:
        return await run_one(flow_path, flows_dir, inputs, backend=engine, live=live)


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _: object) -> None:
        return None


@click.command("execute")
@click.argument("flow_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--flows", "flows_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A directory of other flows to deploy first (subflows).")
@click.option("--input", "-i", "input_pairs", multiple=True, metavar="KEY=VALUE",
              help="An execution input, as typed in a form (repeat for several).")
@click.option("--with-logs", is_flag=True, help="Include the log lines in the output.")
@click.option("--output", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the engine's files here instead of a temporary directory.")
@click.option("--backend", "backend_name", type=click.Choice(["embedded", "kafka"]), default="embedded",
              show_default=True, help="kafka: the executor and a worker run in this process against the broker.")
@kafka_options
def execute(flow_file: Path, flows_dir: Path | None, input_pairs: tuple[str, ...], with_logs: bool,
            output: str, home: Path | None, backend_name: str, config_file: Path | None,
            bootstrap_servers: str | None, topic_prefix: str | None, partitions: int | None) -> None:
    """Run one execution of FLOW_FILE to its end on the embedded engine and print it.

    Exit code 0 for SUCCESS or WARNING, 1 for any other final state, 2 for an invalid flow or inputs.
    """
    inputs = parse_inputs(input_pairs)
    try:
        load_flow_file(flow_file)  # an invalid flow is refused before any backend starts
    except FlowValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions) \
        if backend_name == "kafka" else None
    with tempfile.TemporaryDirectory(prefix="kestra-stream-") as tmp:
        try:
            root = home or Path(tmp)
            execution, logs = asyncio.run(run_on(backend_name, settings, storage_for(config_file, root), root,
                                                 flow_file, flows_dir, inputs,
                                                 live=output == "text" and sys.stderr.isatty()))
        except (FlowValidationError, InputError, FlowNotFoundError, ExecutionBlockedError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_INVALID)
        except BackendError as exc:
            raise click.ClickException(str(exc)) from exc
    if output == "json":
        click.echo(json.dumps(execution_document(execution, logs if with_logs else None), indent=2))
    else:
        _print_text(execution, logs if with_logs else None)
    ok = execution.state.current in (StateType.SUCCESS, StateType.WARNING)
    sys.exit(EXIT_OK if ok else EXIT_FAILED)


def _print_text(execution: Execution, logs: list[LogEntry] | None) -> None:
    console = Console()
    console.print(_progress(execution))
    if execution.outputs:
        console.print("outputs:", json.dumps(execution.outputs, default=str))
    for entry in logs or []:
        console.print(f"{entry.timestamp:%H:%M:%S.%f} {entry.level.value:5} {entry.task_id or '-'}: {entry.message}",
                      markup=False, highlight=False)
    state = execution.state
    seconds = ((state.end_date or state.start_date) - state.start_date).total_seconds()
    console.print(f"{state.current.value} in {seconds:.3f}s")
