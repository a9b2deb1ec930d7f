"""``log.Log``: write messages to the execution's logs; ``log.Fetch``: read an execution's logs into a file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream.worker import task_file_uri
from kestra_stream_plugin_core._execution_ref import ExecutionTask


def _parse_level(value: Any) -> Any:
    return LogLevel.parse(value) if isinstance(value, str) else value


class Log(RunnableTask):
    """Log a message, or each message of a list, in the task logs."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.log.Log",
        short="log.Log",
        aliases=("io.kestra.core.tasks.log.Log",),
        title="Log a message, or each message of a list, in the task logs.",
        examples=(
            """\
id: hello
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ flow.id }}"
""",
            """\
id: several
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message:
      - first line
      - second line
""",
        ),
    )

    message: str | list[str] = Field(description="The message(s) to log; each is rendered.")
    level: LogLevel = Field(default=LogLevel.INFO, description="The log level of the messages.")

    _level_text = field_validator("level", mode="before")(_parse_level)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        messages = [self.message] if isinstance(self.message, str) else self.message
        for message in messages:
            ctx.log(self.level, ctx.render_string(message))
        return None


class Fetch(ExecutionTask):
    """Write an execution's log lines (the current one's by default) to a file of internal storage.

    One line per log entry, each a JSON object with Kestra's field names: JSON text is Ion text,
    so the ``.ion`` file reads as Kestra's does. The lines are those stored when the task runs:
    a task that ended before it has all of its lines in.
    """

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.log.Fetch",
        short="log.Fetch",
        aliases=("io.kestra.core.tasks.log.Fetch",),
        title="Fetch execution logs and store them in a file.",
        examples=(
            """\
id: fetch_logs
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: Hello
  - id: fetch
    type: io.kestra.plugin.core.log.Fetch
    level: INFO
    tasksId:
      - hello
""",
        ),
    )

    tasks_id: list[str] | None = Field(default=None, description="Only the lines of these tasks, task by task.")
    level: LogLevel = Field(default=LogLevel.INFO, description="The lowest level of the lines fetched.")

    _level_text = field_validator("level", mode="before")(_parse_level)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace, flow_id, execution_id = self.target(ctx)
        entries = [e for e in await self.services(ctx).execution_logs(execution_id)
                   if e.namespace == namespace and e.flow_id == flow_id and e.level.rank >= self.level.rank]
        if self.tasks_id is not None:  # task by task, in the order given, as Kestra writes them
            entries = [e for task_id in self.tasks_id for e in entries if e.task_id == task_id]
        body = "".join(json.dumps(e.model_dump(mode="json", exclude_none=True)) + "\n" for e in entries)
        uri = await ctx.storage.put(task_file_uri(ctx, f"{self.id}.ion"), body.encode())
        return {"size": len(entries), "uri": uri}


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Log, Fetch)
