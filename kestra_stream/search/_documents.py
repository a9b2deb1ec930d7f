"""What both repositories derive from a document the same way: dates, duration, searchable words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kestra_stream.models.execution import Execution
from kestra_stream.models.task import LogLevel
from kestra_stream.search._models import as_utc

# Words are cut here, once, and stored space-separated: Elasticsearch's standard analyzer would keep
# "io.kestra" whole where SQLite's tokenizer splits it, and both backends must match the same words.
# Runs of letters, digits and underscores (SQLite's tokenizer is told to keep "_" in words).
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def start_date(execution: Execution) -> datetime | None:
    histories = execution.state.histories
    return as_utc(histories[0].date) if histories else None


def end_date(execution: Execution) -> datetime | None:
    histories = execution.state.histories
    if not histories or not execution.state.current.is_terminated:
        return None
    return as_utc(histories[-1].date)


def duration_seconds(execution: Execution) -> float | None:
    start, end = start_date(execution), end_date(execution)
    return (end - start).total_seconds() if start is not None and end is not None else None


def execution_text(execution: Execution) -> str:
    """What a text query looks in: ids, namespace, flow, labels (key and value) and input values."""
    parts = [execution.id, execution.namespace, execution.flow_id]
    parts += [f"{k} {v}" for k, v in execution.labels.items()]
    parts += list(_scalars(execution.inputs or {}))
    return " ".join(words(" ".join(parts)))


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _scalars(item)
    elif value is not None:
        yield value if isinstance(value, str) else json.dumps(value)


def levels_at_least(level: LogLevel) -> list[str]:
    return [lv.value for lv in LogLevel if lv.rank >= level.rank]


def iso(value: datetime) -> str:
    """A UTC timestamp whose text sorts as the time does (fixed width, microseconds)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
