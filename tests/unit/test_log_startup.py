"""Logging costs a command's start no rich traceback machinery, and a terminal still gets rich tracebacks."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from kestra_stream.log import rich_traceback

FRESH = """
import sys
import kestra_stream.log
print(sorted(m for m in ("rich.traceback", "rich.pretty", "pygments") if m in sys.modules))
import rich.traceback
print(rich.traceback.Traceback.__name__)
"""


def test_importing_the_engines_logging_loads_neither_rich_tracebacks_nor_pygments_yet_they_stay_importable() -> None:
    done = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "Traceback"]


def failing_step() -> None:
    raise ValueError("the step broke")


def test_a_terminals_traceback_is_drawn_by_rich_with_the_frames_and_the_error() -> None:
    out = io.StringIO()
    try:
        failing_step()
    except ValueError:
        rich_traceback(out, sys.exc_info())
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # without the colours
    assert "Traceback (most recent call last)" in text
    assert "in failing_step" in text
    assert "ValueError: the step broke" in text
