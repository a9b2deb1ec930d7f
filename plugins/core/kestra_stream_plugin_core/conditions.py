"""The ``condition.*`` plugins: when a trigger may start an execution (declarations, evaluated elsewhere)."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from kestra_stream.durations import Duration
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.state import StateType
from kestra_stream.models.task import AnyCondition, Condition
from kestra_stream_plugin_core._base import ID_PATTERN, Label
from kestra_stream_plugin_core._windows import TimeWindow

_TRIGGER_DATE = "{{ trigger.date }}"


def _info(name: str, title: str, example: str, *, old: str | None = None,
          deprecated: bool = False) -> PluginInfo:
    """Kestra's names of a condition: the current one, ours, and its older ``...Condition`` names."""
    aliases = (f"io.kestra.core.models.conditions.types.{old or name + 'Condition'}",
               f"io.kestra.plugin.core.condition.{name}Condition")
    return PluginInfo(type=f"io.kestra.plugin.core.condition.{name}", short=f"condition.{name}",
                      aliases=aliases, title=title, examples=(example,), deprecated=deprecated)


def _flow_trigger_example(condition: str) -> str:
    body = "\n".join("      " + line for line in condition.strip().splitlines())
    return f"""\
id: downstream
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.executionId }}}}"
triggers:
  - id: upstream
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
{body}
"""


def _schedule_example(condition: str) -> str:
    body = "\n".join("      " + line for line in condition.strip().splitlines())
    return f"""\
id: scheduled
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.date }}}}"
triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 11 * * *"
    conditions:
{body}
"""


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class DayInMonth(StrEnum):
    FIRST = "FIRST"
    SECOND = "SECOND"
    THIRD = "THIRD"
    FOURTH = "FOURTH"
    LAST = "LAST"


class NamespaceComparison(StrEnum):
    EQUALS = "EQUALS"
    PREFIX = "PREFIX"
    SUFFIX = "SUFFIX"


class ExecutionStatus(Condition):
    """The upstream execution is in one of ``in`` and in none of ``notIn``."""

    plugin: ClassVar[PluginInfo] = _info("ExecutionStatus", "The upstream execution is (not) in states.",
                                         _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionStatus
  in: [SUCCESS, WARNING]
"""))

    in_: list[StateType] | None = Field(default=None, alias="in", description="States that match.")
    not_in: list[StateType] | None = Field(default=None, description="States that do not match.")


class ExecutionFlow(Condition):
    """The upstream execution is of a given flow."""

    plugin: ClassVar[PluginInfo] = _info("ExecutionFlow", "The upstream execution is of a given flow.",
                                         _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionFlow
  namespace: company.team
  flowId: extract
"""))

    namespace: str
    flow_id: str


class ExecutionNamespace(Condition):
    """The upstream execution's namespace equals, starts or ends with a text."""

    plugin: ClassVar[PluginInfo] = _info(
        "ExecutionNamespace", "The upstream execution's namespace equals, starts or ends with a text.",
        _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionNamespace
  namespace: company
  comparison: PREFIX
"""))

    namespace: str
    comparison: NamespaceComparison | None = Field(
        default=None, description="How to compare; EQUALS unless the older `prefix: true` says PREFIX.")
    prefix: bool = Field(default=False, description="Older form of `comparison: PREFIX`.")

    @property
    def effective_comparison(self) -> NamespaceComparison:
        if self.comparison is not None:
            return self.comparison
        return NamespaceComparison.PREFIX if self.prefix else NamespaceComparison.EQUALS


class ExecutionLabels(Condition):
    """The upstream execution carries all the given labels."""

    plugin: ClassVar[PluginInfo] = _info("ExecutionLabels", "The upstream execution has all given labels.",
                                         _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionLabels
  labels:
    team: data
"""))

    labels: dict[str, str] | list[Label]


class ExecutionOutputs(Condition):
    """An expression over the upstream execution's outputs (``trigger.outputs``) renders true."""

    plugin: ClassVar[PluginInfo] = _info(
        "ExecutionOutputs", "An expression over the upstream execution's outputs renders true.",
        _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionOutputs
  expression: "{{ trigger.outputs.status == 'ok' }}"
"""))

    expression: str = Field(min_length=1)


class Expression(Condition):
    """An expression renders true."""

    plugin: ClassVar[PluginInfo] = _info("Expression", "An expression renders true.", _schedule_example("""
- type: io.kestra.plugin.core.condition.Expression
  expression: "{{ trigger.date | date('MM') == '12' }}"
"""), old="VariableCondition")

    expression: str = Field(min_length=1)


class DayWeek(Condition):
    """The date falls on a given day of the week."""

    plugin: ClassVar[PluginInfo] = _info("DayWeek", "The date falls on a given day of the week.",
                                         _schedule_example("""
- type: io.kestra.plugin.core.condition.DayWeek
  dayOfWeek: MONDAY
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")
    day_of_week: DayOfWeek


class DayWeekInMonth(Condition):
    """The date is the first, second ... or last given day of the week of its month."""

    plugin: ClassVar[PluginInfo] = _info(
        "DayWeekInMonth", "The date is the first, second, third, fourth or last given weekday of its month.",
        _schedule_example("""
- type: io.kestra.plugin.core.condition.DayWeekInMonth
  dayOfWeek: MONDAY
  dayInMonth: FIRST
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")
    day_of_week: DayOfWeek
    day_in_month: DayInMonth


class DateTimeBetween(Condition):
    """The date is after ``after`` and before ``before`` (either may be left out)."""

    plugin: ClassVar[PluginInfo] = _info("DateTimeBetween", "The date is between two date-times.",
                                         _schedule_example("""
- type: io.kestra.plugin.core.condition.DateTimeBetween
  after: "2025-01-01T00:00:00Z"
  before: "2025-12-31T23:59:59Z"
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")
    after: datetime | None = None
    before: datetime | None = None


class TimeBetween(Condition):
    """The time of day of the date is after ``after`` and before ``before``."""

    plugin: ClassVar[PluginInfo] = _info("TimeBetween", "The time of day is between two times.",
                                         _schedule_example("""
- type: io.kestra.plugin.core.condition.TimeBetween
  after: "09:00:00+02:00"
  before: "18:00:00+02:00"
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")
    after: time | None = None
    before: time | None = None


class Weekend(Condition):
    """The date falls on a Saturday or a Sunday."""

    plugin: ClassVar[PluginInfo] = _info("Weekend", "The date falls on a Saturday or a Sunday.",
                                         _schedule_example("""
- type: io.kestra.plugin.core.condition.Weekend
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")


class Not(Condition):
    """None of the conditions holds."""

    plugin: ClassVar[PluginInfo] = _info("Not", "None of the conditions holds.", _schedule_example("""
- type: io.kestra.plugin.core.condition.Not
  conditions:
    - type: io.kestra.plugin.core.condition.Weekend
"""))

    conditions: list[AnyCondition] = Field(min_length=1)


class Or(Condition):
    """At least one of the conditions holds."""

    plugin: ClassVar[PluginInfo] = _info("Or", "At least one of the conditions holds.", _schedule_example("""
- type: io.kestra.plugin.core.condition.Or
  conditions:
    - type: io.kestra.plugin.core.condition.DayWeek
      dayOfWeek: MONDAY
    - type: io.kestra.plugin.core.condition.DayWeek
      dayOfWeek: FRIDAY
"""))

    conditions: list[AnyCondition] = Field(min_length=1)


class MultipleCondition(Condition):
    """Every named condition has held within a time window (deprecated: use Flow trigger preconditions)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.condition.MultipleCondition",
        short="condition.MultipleCondition",
        aliases=("io.kestra.core.models.conditions.types.MultipleCondition",),
        title="Every named condition has held within a time window (deprecated: use preconditions).",
        deprecated=True,
        examples=(_flow_trigger_example("""
- type: io.kestra.plugin.core.condition.MultipleCondition
  id: both_done
  window: P1D
  conditions:
    extract:
      type: io.kestra.plugin.core.condition.ExecutionFlow
      namespace: company.team
      flowId: extract
    clean:
      type: io.kestra.plugin.core.condition.ExecutionFlow
      namespace: company.team
      flowId: clean
"""),),
    )

    id: str = Field(pattern=ID_PATTERN)
    window: Duration | None = Field(default=None, description="The window length; a day by default.")
    window_advance: Duration | None = Field(default=None,
                                            description="Where the window starts after midnight.")
    reset_on_success: bool = True
    conditions: dict[str, AnyCondition] = Field(min_length=1)
    time_window: TimeWindow | None = Field(default=None, description="Newer form of window / windowAdvance.")
