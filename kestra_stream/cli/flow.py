"""``kestra-stream flow ...``."""

from __future__ import annotations

from pathlib import Path

import click

from kestra_stream.errors import FlowProblem, FlowValidationError
from kestra_stream.flows import flow_files, load_flow_file


@click.group()
def flow() -> None:
    """Work with flow files."""


@flow.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check flow files (or directories of *.yml / *.yaml) completely, reporting every problem.

    Prints ``OK <namespace>.<id>`` for each valid flow and ``FILE:LINE:COL: message (at path)``
    for each problem of an invalid one; exits with 1 when any flow is invalid.
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
    if failed:
        raise SystemExit(1)


def _report(problems: list[FlowProblem]) -> None:
    for problem in problems:
        click.echo(str(problem))
