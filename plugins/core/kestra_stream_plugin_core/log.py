"""``log.Log``: write messages to the execution's logs; ``log.Fetch``: read an execution's logs into a file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field, field_validator, model_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.models.log import LogEntry
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream.worker import task_file_uri


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


@runtime_checkable
class _ReadsLogs(Protocol):
    async def execution_logs(self, execution_id: str) -> list[LogEntry]: ...


class Fetch(RunnableTask):
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

    namespace: str | None = Field(default=None, description="The namespace of the execution's flow, when "
                                  "`executionId` is set (with `flowId`); rendered.")
    flow_id: str | None = Field(default=None, description="The flow of the execution, when `executionId` is set "
                                "(with `namespace`); rendered.")
    execution_id: str | None = Field(default=None, description="The execution whose logs to fetch (the current "
                                     "one by default), of the current flow unless `namespace` and `flowId` "
                                     "are set; rendered.")
    tasks_id: list[str] | None = Field(default=None, description="Only the lines of these tasks, task by task.")
    level: LogLevel = Field(default=LogLevel.INFO, description="The lowest level of the lines fetched.")

    _level_text = field_validator("level", mode="before")(_parse_level)

    @model_validator(mode="after")
    def _execution_coordinates(self) -> Fetch:
        if self.execution_id is not None and (self.namespace is None) != (self.flow_id is None):
            raise ValueError("Both `namespace` and `flowId` must be set when `executionId` is set.")
        if self.execution_id is None and (self.namespace is not None or self.flow_id is not None):
            raise ValueError("`namespace` and `flowId` should only be set when `executionId` is set.")
        return self

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if not isinstance(ctx, _ReadsLogs):
            raise TaskFailure("log.Fetch needs a worker's run context, which reads the execution's logs",
                              task_id=self.id)
        flow = ctx.variables["flow"]
        execution_id = ctx.execution_id if self.execution_id is None else ctx.render_string(self.execution_id)
        namespace = flow["namespace"] if self.namespace is None else ctx.render_string(self.namespace)
        flow_id = flow["id"] if self.flow_id is None else ctx.render_string(self.flow_id)
        entries = [e for e in await ctx.execution_logs(execution_id)
                   if e.namespace == namespace and e.flow_id == flow_id and e.level.rank >= self.level.rank]
        if self.tasks_id is not None:  # task by task, in the order given, as Kestra writes them
            entries = [e for task_id in self.tasks_id for e in entries if e.task_id == task_id]
        body = "".join(json.dumps(e.model_dump(mode="json", exclude_none=True)) + "\n" for e in entries)
        uri = await ctx.storage.put(task_file_uri(ctx, f"{self.id}.ion"), body.encode())
        return {"size": len(entries), "uri": uri}
