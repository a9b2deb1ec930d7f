"""``log.Log``: write messages to the execution's logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask


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
