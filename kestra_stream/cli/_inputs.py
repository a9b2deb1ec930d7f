"""Inputs typed on a command line or a terminal: ``KEY=VALUE`` pairs, as in a form."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click


def parse_inputs(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` as typed in a form; ``KEY=@PATH`` gives a local file to a FILE input."""
    inputs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write inputs as KEY=VALUE (or KEY=@PATH for a file)",
                                     param_hint="--input")
        inputs[key] = Path(value[1:]).resolve().as_uri() if value.startswith("@") else value
    return inputs
