"""``kestra-stream execute FLOW.yaml``: one execution followed live to its end, embedded or on Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import shlex
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kestra_stream.cli._follow import FollowedBackend, Follower, Resumable
from kestra_stream.cli._inputs import parse_inputs
from kestra_stream.cli._kafka_options import (
    kafka_options,
    kafka_settings,
    storage_for,
    storage_settings,
    worker_group_option,
)
from kestra_stream.cli._preflight import require_services
from kestra_stream.cli.template import save_templates, template_files
from kestra_stream.embedded import EmbeddedEngine, FlowNotFoundError
from kestra_stream.errors import BackendError, ExecutionBlockedError, FlowValidationError, InputError
from kestra_stream.executor._flow_rules import retry_execution_id
from kestra_stream.flows import flow_files, load_flow_file
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.storage import Storage

if TYPE_CHECKING:
    from kestra_stream.kafka import KafkaSettings, KafkaStack

# PAUSED: the execution paused and nothing here can resume it (the embedded engine off a terminal).
EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_PAUSED = 0, 1, 2, 3
_STYLE = {"SUCCESS": "green", "WARNING": "yellow", "FAILED": "red", "KILLED": "red", "RUNNING": "cyan",
          "PAUSED": "magenta", "RETRYING": "yellow", "SKIPPED": "dim", "CREATED": "dim", "CANCELLED": "red"}


def unknown_inputs(flow: Flow, given: Mapping[str, object]) -> str | None:
    """What to tell a user who named an input the flow does not declare (a typo would be ignored otherwise)."""
    declared = [definition.id for definition in flow.inputs or []]
    unknown = [name for name in given if name not in declared]
    if not unknown:
        return None
    name = unknown[0]
    close = difflib.get_close_matches(name, declared, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    listed = f"its inputs are {', '.join(declared)}" if declared else "it declares no inputs"
    return f"unknown input '{name}'{hint}: flow {flow.namespace}.{flow.id} has no input of that name; {listed}"


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


class TextView:
    """Text on stdout: log lines as they are written (``--with-logs``), notices; a live table on a terminal."""

    def __init__(self, *, with_logs: bool, live: Live | None) -> None:
        self._with_logs = with_logs
        self._live = live
        self._console = stdout_console()
        self._shown: set[LogEntry] = set()

    def state(self, execution: Execution) -> None:
        if self._live is not None:
            self._live.update(_progress(execution))

    def logs(self, entries: list[LogEntry]) -> None:
        if not self._with_logs:
            return
        for entry in entries:
            if entry not in self._shown:  # lines streamed live are not printed again at the end
                self._shown.add(entry)
                self._console.print(_log_line(entry), markup=False, highlight=False)

    def notice(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)


class JsonView:
    """stdout keeps the JSON document alone: notices go to stderr, log lines into the document."""

    def state(self, execution: Execution) -> None:
        return None

    def logs(self, entries: list[LogEntry]) -> None:
        return None

    def notice(self, text: str) -> None:
        click.echo(text, err=True)


async def run_one(flow_path: Path, flows_dir: Path | None, inputs: dict[str, str], *, backend: FollowedBackend,
                  view: TextView | JsonView, resume_command: Callable[[str], str] | None,
                  ) -> tuple[Execution, list[LogEntry]]:
    """Deploy, start, follow: the execution once ended, or once paused when nothing here can resume it."""
    for path in flow_files([flows_dir]) if flows_dir else []:
        backend.deploy(path.read_text(), file=str(path))
    flow = backend.deploy(flow_path.read_text(), file=str(flow_path))
    follower = Follower(backend, flow, view)
    execution_id = await backend.create_execution(flow.namespace, flow.id, inputs, from_text=True)
    view.notice(f"execution {execution_id} started ({flow.namespace}.{flow.id} revision {flow.revision})")
    resumable = Resumable(on_terminal=sys.stdin.isatty(),
                          command=resume_command(execution_id) if resume_command else None)
    execution = await follower.follow(execution_id, resumable)
    while execution.state.current == StateType.RETRIED:
        # A flow retry with CREATE_NEW_EXECUTION: the flow's outcome is that of the last try.
        execution_id = retry_execution_id(execution.id)
        execution = await follower.follow(execution_id, resumable)
    logs = backend.logs(execution_id)
    view.logs(logs)
    return execution, logs


@dataclass(frozen=True)
class Search:
    """Elasticsearch for ``execute --backend kafka``: an indexer runs beside, and tasks read the history there."""

    url: str
    index_prefix: str


async def run_on(backend_name: str, settings: KafkaSettings | None, storage: Storage, home: Path, flow_path: Path,
                 flows_dir: Path | None, inputs: dict[str, str], view: TextView | JsonView,
                 resume_command: Callable[[str], str] | None,
                 search: Search | None = None, worker_groups: tuple[str, ...] = (),
                 templates: Path | None = None) -> tuple[Execution, list[LogEntry]]:
    if templates is not None:
        await save_templates(storage, template_files(templates))
    if backend_name == "kafka":
        assert settings is not None
        from kestra_stream.kafka import KafkaStack  # the Kafka client only on the Kafka backend

        async with contextlib.AsyncExitStack() as components:
            stack = await components.enter_async_context(KafkaStack(settings, home=home, storage=storage))
            if search is not None:
                await _index_beside(components, stack, search)
            return await run_one(flow_path, flows_dir, inputs, backend=stack, view=view,
                                 resume_command=resume_command)
    async with EmbeddedEngine(home, storage=storage, worker_groups=worker_groups) as engine:
        return await run_one(flow_path, flows_dir, inputs, backend=engine, view=view, resume_command=None)


async def _index_beside(components: contextlib.AsyncExitStack, stack: KafkaStack, search: Search) -> None:
    from kestra_stream.indexer import IndexerSettings, KafkaIndexer, use_indexed_history
    from kestra_stream.search import ElasticsearchRepository

    repository = ElasticsearchRepository.connect(search.url, prefix=search.index_prefix)
    components.callback(repository.close)
    await asyncio.to_thread(repository.setup)
    # A group of its own per topic prefix: a run does not rebalance the indexers of other prefixes.
    indexer_settings = IndexerSettings(group_id=f"{stack.settings.topic_prefix}kestra-stream-indexer")
    indexer = KafkaIndexer(stack.settings, repository, indexer_settings)
    indexer.start()
    components.push_async_callback(asyncio.to_thread, indexer.stop)
    use_indexed_history(stack, repository, group_id=indexer_settings.group_id)


def kafka_resume_command(config_file: Path | None, settings: KafkaSettings) -> Callable[[str], str]:
    """The command another shell runs to resume an execution this process follows on Kafka."""
    config = f" --config {shlex.quote(str(config_file.resolve()))}" if config_file else ""

    def command(execution_id: str) -> str:
        return (f"kestra-stream execution resume {execution_id}{config} --bootstrap-servers "
                f"{shlex.quote(settings.bootstrap_servers)} --topic-prefix {shlex.quote(settings.topic_prefix)}")

    return command


@click.command("execute")
@click.argument("flow_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--flows", "flows_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A directory of other flows to deploy first (subflows).")
@click.option("--input", "-i", "input_pairs", multiple=True, metavar="KEY=VALUE",
              help="An execution input, as typed in a form (repeat for several).")
@click.option("--with-logs", is_flag=True,
              help="Print the log lines as they are written (text), or include them in the document (json).")
@click.option("--output", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the engine's files here instead of a temporary directory.")
@click.option("--backend", "backend_name", type=click.Choice(["embedded", "kafka"]), default="embedded",
              show_default=True, help="kafka: the executor and a worker run in this process against the broker.")
@click.option("--elasticsearch-url", default=None,
              help="kafka: index the run's topics into this Elasticsearch (an indexer runs in this process), where "
                   "execution.Count, PurgeExecutions and log.PurgeLogs read and delete executions and logs.")
@click.option("--index-prefix", default="kestra_stream", show_default=True,
              help="kafka: prefix of the index names, with --elasticsearch-url.")
@click.option("--templates", "templates", type=click.Path(exists=True, path_type=Path), default=None,
              help="A template file, or a directory of them, saved to internal storage first (the templates the "
                   "flow's flow.Template tasks include; needs KESTRA_STREAM_TEMPLATES_ENABLED=true).")
@worker_group_option
@kafka_options
def execute(flow_file: Path, flows_dir: Path | None, input_pairs: tuple[str, ...], with_logs: bool,
            output: str, home: Path | None, backend_name: str, elasticsearch_url: str | None, index_prefix: str,
            templates: Path | None, worker_groups: tuple[str, ...], config_file: Path | None,
            bootstrap_servers: str | None, topic_prefix: str | None, partitions: int | None) -> None:
    """Run one execution of FLOW_FILE and follow it to its end (on the embedded engine by default).

    The first line is the execution's id, printed as it starts; --with-logs prints log lines as
    they are written. A paused execution says how to resume it (Enter on a terminal; on Kafka, a
    command from another shell). Ctrl-C kills the execution; a second Ctrl-C leaves at once (130).

    Exit code 0 for SUCCESS or WARNING, 1 for any other final state (KILLED after Ctrl-C), 2 for an
    invalid flow or inputs, 3 when the execution paused with nothing to resume it (embedded, no terminal).
    """
    inputs = parse_inputs(input_pairs)
    try:
        flow = load_flow_file(flow_file)  # an invalid flow is refused before any backend starts
    except FlowValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    if (unknown := unknown_inputs(flow, inputs)) is not None:
        click.echo(f"error: {unknown}", err=True)
        sys.exit(EXIT_INVALID)
    settings = kafka_settings(config_file, bootstrap_servers, topic_prefix, partitions) \
        if backend_name == "kafka" else None
    if settings is not None and worker_groups:
        # Its one worker takes the tasks of no group; a Kafka worker serves one key (its consumer group).
        raise click.UsageError("--worker-group is for the embedded engine: on Kafka, start `kestra-stream worker "
                               "--worker-group KEY` beside for the tasks of that group")
    if elasticsearch_url and settings is None:
        raise click.UsageError("--elasticsearch-url is for --backend kafka: the embedded engine keeps its history "
                               "in its own SQLite file")
    require_services(kafka=settings, storage=storage_settings(config_file), elasticsearch_url=elasticsearch_url)
    live = output == "text" and sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix="kestra-stream-") as tmp, \
            (Live(console=Console(stderr=True), refresh_per_second=8) if live else contextlib.nullcontext()) as display:
        view = TextView(with_logs=with_logs, live=display) if output == "text" else JsonView()
        try:
            root = home or Path(tmp)
            execution, logs = asyncio.run(run_on(
                backend_name, settings, storage_for(config_file, root), root, flow_file, flows_dir, inputs, view,
                kafka_resume_command(config_file, settings) if settings is not None else None,
                Search(elasticsearch_url, index_prefix) if elasticsearch_url else None, worker_groups, templates))
        except (FlowValidationError, InputError, FlowNotFoundError, ExecutionBlockedError) as exc:
            click.echo(f"error: {exc}" + (" (inputs are given as -i KEY=VALUE)" if isinstance(exc, InputError)
                                          else ""), err=True)
            sys.exit(EXIT_INVALID)
        except BackendError as exc:
            raise click.ClickException(str(exc)) from exc
    if output == "json":
        click.echo(json.dumps(execution_document(execution, logs if with_logs else None), indent=2))
    else:
        _print_text(execution)
    sys.exit(exit_code(execution.state.current))


def exit_code(state: StateType) -> int:
    if state in (StateType.SUCCESS, StateType.WARNING):
        return EXIT_OK
    return EXIT_PAUSED if state == StateType.PAUSED else EXIT_FAILED


def stdout_console() -> Console:
    """Rich output on stdout; when it is not a terminal, lines are never wrapped (rich would wrap at 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(soft_wrap=True, width=100_000)


def _log_line(entry: LogEntry) -> str:
    return f"{entry.timestamp:%H:%M:%S.%f} {entry.level.value:5} {entry.task_id or '-'}: {entry.message}"


def _print_text(execution: Execution) -> None:
    console = stdout_console()
    console.print(_progress(execution))
    if execution.outputs:
        console.print("outputs:", json.dumps(execution.outputs, default=str))
    state = execution.state
    seconds = ((state.end_date or datetime.now(UTC)) - state.start_date).total_seconds()
    console.print(f"{state.current.value} {'after' if state.current == StateType.PAUSED else 'in'} {seconds:.3f}s")
