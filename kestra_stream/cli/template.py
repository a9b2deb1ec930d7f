"""``kestra-stream template ...``: Kestra's deprecated flow templates, checked and saved to internal storage.

Templates are off unless ``KESTRA_STREAM_TEMPLATES_ENABLED=true``; they are kept in internal storage
(the settings file's ``storage:`` section, a local directory under ``--home`` by default), where every
component of either backend reads them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from kestra_stream.cli._kafka_options import storage_for
from kestra_stream.errors import FlowProblem, FlowValidationError
from kestra_stream.flows import flow_files, load_template
from kestra_stream.models.template import FlowTemplate
from kestra_stream.storage import Storage
from kestra_stream.templates import ENV_ENABLED, TemplateStore, templates_enabled


@click.group()
def template() -> None:
    """Work with template files (Kestra's deprecated flow templates; prefer subflows)."""


def template_files(path: Path) -> list[Path]:
    """A template file, or the *.yml / *.yaml files below a directory."""
    return flow_files([path])


def _check(files: list[Path]) -> tuple[list[tuple[Path, FlowTemplate]], list[FlowProblem]]:
    loaded: list[tuple[Path, FlowTemplate]] = []
    problems: list[FlowProblem] = []
    for file in files:
        try:
            loaded.append((file, load_template(file.read_text(encoding="utf-8"), file=str(file))))
        except FlowValidationError as exc:
            problems += exc.problems
    return loaded, problems


async def save_templates(storage: Storage, files: list[Path]) -> list[FlowTemplate]:
    """Check every template file, then save them all; ``FlowValidationError`` (nothing saved) if any is invalid."""
    loaded, problems = _check(files)
    if problems:
        raise FlowValidationError(problems)
    store = TemplateStore(storage)
    return [await store.save(file.read_text(encoding="utf-8")) for file, _ in loaded]


def _report(problems: list[FlowProblem]) -> None:
    for problem in problems:
        click.echo(str(problem))


def _require_enabled() -> None:
    if not templates_enabled():
        raise click.ClickException(f"templates are off: set {ENV_ENABLED}=true (in the environment of every "
                                   "kestra-stream process) to use flow.Template, or call the reused tasks as a "
                                   "flow of their own with io.kestra.plugin.core.flow.Subflow")


@template.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check template files (or directories of *.yml / *.yaml) as flows are checked, reporting every problem.

    Prints ``OK <namespace>.<id>`` for each valid template; exits with 1 when any is invalid.
    """
    _require_enabled()
    try:
        files = flow_files(paths)
    except FlowValidationError as exc:
        _report(exc.problems)
        raise SystemExit(1) from None
    loaded, problems = _check(files)
    for _, found in loaded:
        click.echo(f"OK {found.uid}")
    _report(problems)
    if problems or not files:
        raise SystemExit(1)


@template.command("deploy")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".kestra-stream"),
              show_default=True, help="The server's --home: where local storage is.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A YAML settings file: its `storage:` section (KESTRA_STREAM_STORAGE_* variables override it).")
def deploy(paths: tuple[Path, ...], home: Path, config_file: Path | None) -> None:
    """Save template files (or directories) to internal storage, where executors read them.

    Every template is checked first: nothing is saved unless all are valid. A template of the same
    namespace and id is replaced; executions read it from their next step on, as in Kestra.
    """
    _require_enabled()
    try:
        saved = asyncio.run(save_templates(storage_for(config_file, home), flow_files(paths)))
    except FlowValidationError as exc:
        _report(exc.problems)
        raise SystemExit(1) from None
    for found in saved:
        click.echo(f"{found.uid} saved")
