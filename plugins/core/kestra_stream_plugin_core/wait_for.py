"""``flow.WaitFor``: run tasks again and again until a condition holds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar

from pydantic import Field, field_validator

from kestra_stream.durations import Duration
from kestra_stream.executor.flowables import FlowableContext, LoopLimits, Resolution
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import AnyTask, FlowableTask, Task
from kestra_stream_plugin_core._base import Props, condition_text


class CheckFrequency(Props):
    """How often a WaitFor runs its tasks, and when it gives up."""

    max_iterations: int | None = Field(default=100, ge=1, description="The most iterations to run.")
    max_duration: Duration | None = Field(default=timedelta(hours=1), description="The longest the loop may run.")
    interval: Duration = Field(default=timedelta(seconds=1), description="The wait between two iterations.")


class WaitFor(FlowableTask):
    """Run tasks again and again, `checkFrequency.interval` apart, until the condition renders true."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.WaitFor",
        short="flow.WaitFor",
        title="Run tasks again and again until a condition renders true.",
        examples=(
            """\
id: wait_for
namespace: company.team
tasks:
  - id: poll
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.check.values.count == '4' }}"
    checkFrequency:
      maxIterations: 10
      interval: PT1S
    failOnMaxReached: true
    tasks:
      - id: check
        type: io.kestra.plugin.core.output.OutputValues
        values:
          count: "{{ outputs.poll.iterationCount + 1 }}"
""",
        ),
    )

    tasks: list[AnyTask] = Field(min_length=1, description="The tasks of one iteration, run in order.")
    condition: str = Field(description="Rendered after each iteration; the loop ends when it is true.")
    fail_on_max_reached: bool = Field(default=False, description="Fail when maxIterations or maxDuration "
                                                                 "is reached before the condition holds.")
    check_frequency: CheckFrequency = Field(default_factory=CheckFrequency,
                                            description="Interval between iterations and the loop's limits.")

    _condition_text = field_validator("condition", mode="before")(condition_text)

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        frequency = self.check_frequency
        return ctx.until(self.tasks, self.condition, LoopLimits(
            max_iterations=frequency.max_iterations, max_duration=frequency.max_duration,
            interval=frequency.interval, fail_on_max=self.fail_on_max_reached))


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (WaitFor,)
