"""Fakes built on the real RunContext and FlowableContext protocols, for the core plugin tests."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kestra_stream.executor.flowables import Done, Resolution
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel, Task
from kestra_stream.storage import LocalStorage, Storage

_EXPR = re.compile(r"\{\{\s*([a-zA-Z_][\w.]*)\s*\}\}")


def _lookup(variables: Mapping[str, Any], path: str) -> Any:
    value: Any = variables
    for part in path.split("."):
        value = value[part]
    return value


def render_with(variables: Mapping[str, Any], value: Any) -> Any:
    """A tiny stand-in for the expression engine: ``{{ dotted.path }}`` only, typed when alone."""
    if isinstance(value, str):
        lone = _EXPR.fullmatch(value.strip())
        if lone:
            return _lookup(variables, lone.group(1))
        return _EXPR.sub(lambda m: str(_lookup(variables, m.group(1))), value)
    if isinstance(value, Mapping):
        return {render_with(variables, k): render_with(variables, v) for k, v in value.items()}
    if isinstance(value, list):
        return [render_with(variables, v) for v in value]
    return value


@dataclass
class FakeRunContext:
    root: Path
    vars: dict[str, Any] = field(default_factory=dict)
    logs: list[tuple[LogLevel, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def execution_id(self) -> str:
        return "exec1"

    @property
    def taskrun_id(self) -> str:
        return "tr1"

    @property
    def attempt_number(self) -> int:
        return 1

    @property
    def variables(self) -> Mapping[str, Any]:
        return self.vars

    def render(self, value: Any) -> Any:
        return render_with(self.vars, value)

    def render_string(self, value: Any) -> str:
        rendered = self.render(value)
        return rendered if isinstance(rendered, str) else str(rendered)

    def log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))

    def set_labels(self, labels: Mapping[str, str]) -> None:
        self.labels.update(labels)

    def set_warning(self, reason: str) -> None:
        self.warnings.append(reason)

    def working_directory(self) -> Path:
        path = self.root / "work"
        path.mkdir(exist_ok=True)
        return path

    @property
    def storage(self) -> Storage:
        return LocalStorage(self.root / "storage")


MARKER = Done(StateType.SUCCESS, {"marker": True})


@dataclass
class RecordingFlowableContext:
    """Records each call a flowable makes and answers with ``answer``."""

    vars: dict[str, Any] = field(default_factory=dict)
    answer: Resolution = MARKER
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    kept: dict[str, Any] = field(default_factory=dict)

    def render(self, value: Any) -> Any:
        return render_with(self.vars, value)

    def render_once(self, key: str, value: Any) -> Any:
        if key not in self.kept:
            self.kept[key] = self.render(value)
        return self.kept[key]

    def sequence(self, tasks: Sequence[Task]) -> Resolution:
        self.calls.append(("sequence", [t.id for t in tasks]))
        return self.answer

    def parallel(self, tasks: Sequence[Task], concurrent: int = 0) -> Resolution:
        self.calls.append(("parallel", [t.id for t in tasks], concurrent))
        return self.answer

    def each(
        self, values: Any, tasks: Sequence[Task], *, concurrency: int = 1, parallel_tasks: bool = False
    ) -> Resolution:
        self.calls.append(("each", values, [t.id for t in tasks], concurrency, parallel_tasks))
        return self.answer

    def dag(self, nodes: Sequence[tuple[Task, Sequence[str]]], concurrent: int = 0) -> Resolution:
        self.calls.append(("dag", [(t.id, list(deps)) for t, deps in nodes], concurrent))
        return self.answer
