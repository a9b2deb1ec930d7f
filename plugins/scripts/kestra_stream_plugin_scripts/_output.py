"""Kestra's stdout protocol: ``::{json}::`` lines carrying outputs, metrics and log lines.

Every other line becomes a log line of the task run: stdout at INFO, stderr at ERROR, as in
Kestra's ``PluginUtilsService.parseOut``. Lines of either stream are counted, protocol lines
included, because ``warningOnStdErr`` looks at the number of stderr lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kestra_stream.models.task import LogLevel, RunContext

PROTOCOL_LINE = re.compile(r"^::(\{.*\})::$")


@runtime_checkable
class MetricSink(Protocol):
    """A run context that records metrics (not every one does yet)."""

    def metric(self, name: str, type: str, value: float, tags: dict[str, str]) -> None: ...


@dataclass
class Metric:
    name: str
    type: str
    value: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptOutputCollector:
    """Receives every output line of a script and keeps what it declared."""

    ctx: RunContext
    vars: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    stdout_count: int = 0
    stderr_count: int = 0

    def __call__(self, line: str, is_stderr: bool) -> None:
        if is_stderr:
            self.stderr_count += 1
        else:
            self.stdout_count += 1
        found = PROTOCOL_LINE.match(line)
        if found is None:
            self.ctx.log(LogLevel.ERROR if is_stderr else LogLevel.INFO, line)
            return
        try:
            message = json.loads(found.group(1))
            if not isinstance(message, dict):
                raise ValueError("the JSON between '::' and '::' must be an object")
            self._apply(message)
        except (ValueError, TypeError, KeyError) as exc:
            self.ctx.log(LogLevel.WARN, f"Invalid outputs '{exc}' in line {line[:200]!r}")

    def _apply(self, message: dict[str, Any]) -> None:
        outputs = message.get("outputs")
        if outputs is not None:
            if not isinstance(outputs, dict):
                raise ValueError("'outputs' must be an object")
            # A shallow merge, as Kestra does: a later line replaces a whole key.
            self.vars.update(outputs)
        for raw in message.get("metrics") or ():
            metric = Metric(name=str(raw["name"]), type=str(raw.get("type", "counter")),
                            value=float(raw["value"]),
                            tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()})
            self.metrics.append(metric)
            if isinstance(self.ctx, MetricSink):
                self.ctx.metric(metric.name, metric.type, metric.value, metric.tags)
        for raw in message.get("logs") or ():
            level = LogLevel.parse(str(raw.get("level", "INFO")))
            self.ctx.log(level, str(raw.get("message", "")))
