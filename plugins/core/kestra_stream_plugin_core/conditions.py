"""The ``condition.*`` plugins: when a trigger may start an execution.

Each condition's ``test`` is pure, as Kestra's: dates come from rendering its ``date`` property
(``{{ trigger.date }}`` by default, which falls back to the context's date), upstream executions
from the context. A condition that cannot be evaluated (no upstream execution, a date that does
not parse) raises; the trigger component logs it and counts the condition as not met.
``MultipleCondition`` is a declaration only: the Flow trigger's precondition machine evaluates it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from kestra_stream.errors import PluginError
from kestra_stream.expressions import FixedFunctions, default_engine
from kestra_stream.models.execution import Execution
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.state import StateType
from kestra_stream.models.task import AnyCondition, Condition, ConditionContext
from kestra_stream.plugins.spi import MultipleConditionBase
from kestra_stream_plugin_core._base import Label

_TRIGGER_DATE = "{{ trigger.date }}"


def _scope(ctx: ConditionContext) -> dict[str, Any]:
    """The variables conditions render with; ``trigger.date`` defaults to the context's date."""
    variables = dict(ctx.variables)
    trigger = variables.get("trigger")
    trigger = dict(trigger) if isinstance(trigger, Mapping) else {}
    if ctx.date is not None and "date" not in trigger:
        trigger["date"] = ctx.date.isoformat()
    variables["trigger"] = trigger
    return variables


def _render(text: str, ctx: ConditionContext, variables: Mapping[str, Any] | None = None) -> Any:
    functions = FixedFunctions(ctx.date) if ctx.date is not None else None
    return default_engine().render_typed(text, variables if variables is not None else _scope(ctx), functions)


def _rendered_text(text: str, ctx: ConditionContext, variables: Mapping[str, Any] | None = None) -> str:
    functions = FixedFunctions(ctx.date) if ctx.date is not None else None
    return default_engine().render(text, variables if variables is not None else _scope(ctx), functions)


def _holds(rendered: str) -> bool:
    """Kestra's reading of a rendered condition: anything but blank or ``false`` holds."""
    return rendered.strip() not in ("", "false")


def _parse_datetime(condition: Condition, value: Any) -> datetime:
    """A rendered date as an aware datetime (naive is UTC); ISO-8601, with an optional ``[Zone/Id]``."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    zone_name = None
    if text.endswith("]") and "[" in text:
        text, zone_name = text[:-1].split("[", 1)
    try:
        parsed = datetime.fromisoformat(text)
        if zone_name is not None:
            zone = ZoneInfo(zone_name)
            parsed = parsed.astimezone(zone) if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise PluginError(f"condition {condition.type}: {str(value)!r} is not an ISO-8601 date-time "
                          f"(such as 2025-01-31T10:00:00+01:00); check its `date` property",
                          plugin_type=condition.type) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _parse_date(condition: Condition, value: Any) -> date:
    """A rendered date's calendar day, in its own offset (Kestra's ``DateUtils.parseLocalDate``)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    return _parse_datetime(condition, value).date()


def _rendered_date(condition: Condition, text: str, ctx: ConditionContext) -> Any:
    value = _render(text, ctx)
    if value is None or value == "":
        raise PluginError(f"condition {condition.type}: its date {text!r} rendered empty; a schedule gives "
                          f"`trigger.date`, other triggers need an explicit `date` property",
                          plugin_type=condition.type)
    return value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _upstream(condition: Condition, ctx: ConditionContext) -> Execution:
    if ctx.execution is None:
        raise PluginError(f"condition {condition.type} tests an upstream execution and can only be used "
                          f"in a Flow trigger's conditions", plugin_type=condition.type)
    return ctx.execution


def _offset_seconds(moment: time, fallback: timedelta) -> float:
    """Seconds of ``moment`` since midnight UTC, as Java's ``OffsetTime`` compares (no day wrap)."""
    offset = moment.utcoffset()
    offset = fallback if offset is None else offset
    return (moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
            - offset.total_seconds())


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

    def test(self, ctx: ConditionContext) -> bool:
        current = _upstream(self, ctx).state.current
        if self.in_ is not None and current not in self.in_:
            return False
        return not (self.not_in is not None and current in self.not_in)


class HasRetryAttempt(Condition):
    """The upstream execution has a retried task run with an attempt in one of ``in`` and none of ``notIn``."""

    plugin: ClassVar[PluginInfo] = _info("HasRetryAttempt", "The upstream execution retried a task.",
                                         _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.HasRetryAttempt
  in: [FAILED]
"""))

    in_: list[StateType] | None = Field(default=None, alias="in", description="Attempt states that match.")
    not_in: list[StateType] | None = Field(default=None, description="Attempt states that do not match.")

    def test(self, ctx: ConditionContext) -> bool:
        return any(
            (self.in_ is None or attempt.state.current in self.in_)
            and not (self.not_in is not None and attempt.state.current in self.not_in)
            for tr in _upstream(self, ctx).task_run_list if len(tr.attempts) > 1
            for attempt in tr.attempts)


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

    def test(self, ctx: ConditionContext) -> bool:
        execution = _upstream(self, ctx)
        return execution.namespace == self.namespace and execution.flow_id == self.flow_id


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

    def test(self, ctx: ConditionContext) -> bool:
        namespace = _upstream(self, ctx).namespace
        match self.effective_comparison:
            case NamespaceComparison.EQUALS:
                return namespace == self.namespace
            case NamespaceComparison.PREFIX:
                return namespace.startswith(self.namespace)
            case NamespaceComparison.SUFFIX:
                return namespace.endswith(self.namespace)


class ExecutionLabels(Condition):
    """The upstream execution carries all the given labels."""

    plugin: ClassVar[PluginInfo] = _info("ExecutionLabels", "The upstream execution has all given labels.",
                                         _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionLabels
  labels:
    team: data
"""))

    labels: dict[str, str] | list[Label]

    def test(self, ctx: ConditionContext) -> bool:
        labels = _upstream(self, ctx).labels
        wanted = (self.labels.items() if isinstance(self.labels, dict)
                  else [(label.key, label.value) for label in self.labels])
        return all(labels.get(key) == value for key, value in wanted)


class ExecutionOutputs(Condition):
    """An expression over the upstream execution's outputs (``trigger.outputs``) renders true."""

    plugin: ClassVar[PluginInfo] = _info(
        "ExecutionOutputs", "An expression over the upstream execution's outputs renders true.",
        _flow_trigger_example("""
- type: io.kestra.plugin.core.condition.ExecutionOutputs
  expression: "{{ trigger.outputs.status == 'ok' }}"
"""))

    expression: str = Field(min_length=1)

    def test(self, ctx: ConditionContext) -> bool:
        outputs = _upstream(self, ctx).outputs
        if not outputs:
            return False  # as Kestra: no outputs, nothing to test
        variables = _scope(ctx)
        variables["trigger"] = {**variables["trigger"], "outputs": outputs}
        return _holds(_rendered_text(self.expression, ctx, variables))


class Expression(Condition):
    """An expression renders true."""

    plugin: ClassVar[PluginInfo] = _info("Expression", "An expression renders true.", _schedule_example("""
- type: io.kestra.plugin.core.condition.Expression
  expression: "{{ trigger.date | date('MM') == '12' }}"
"""), old="VariableCondition")

    expression: str = Field(min_length=1)

    def test(self, ctx: ConditionContext) -> bool:
        return _holds(_rendered_text(self.expression, ctx))


class DayWeek(Condition):
    """The date falls on a given day of the week."""

    plugin: ClassVar[PluginInfo] = _info("DayWeek", "The date falls on a given day of the week.",
                                         _schedule_example("""
- type: io.kestra.plugin.core.condition.DayWeek
  dayOfWeek: MONDAY
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")
    day_of_week: DayOfWeek

    def test(self, ctx: ConditionContext) -> bool:
        day = _parse_date(self, _rendered_date(self, self.date, ctx))
        return list(DayOfWeek)[day.weekday()] == self.day_of_week


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

    def test(self, ctx: ConditionContext) -> bool:
        day = _parse_date(self, _rendered_date(self, self.date, ctx))
        if list(DayOfWeek)[day.weekday()] != self.day_of_week:
            return False
        if self.day_in_month == DayInMonth.LAST:
            return (day + timedelta(days=7)).month != day.month
        # The n-th such weekday of its month falls on days 7(n-1)+1 .. 7n.
        nth = list(DayInMonth).index(self.day_in_month) + 1
        return (day.day - 1) // 7 + 1 == nth


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

    def test(self, ctx: ConditionContext) -> bool:
        if self.after is None and self.before is None:
            raise PluginError(f"condition {self.type} needs `after`, `before` or both", plugin_type=self.type)
        moment = _parse_datetime(self, _rendered_date(self, self.date, ctx))
        if self.after is not None and not moment > _aware(self.after):
            return False
        return not (self.before is not None and not moment < _aware(self.before))


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

    def test(self, ctx: ConditionContext) -> bool:
        if self.after is None and self.before is None:
            raise PluginError(f"condition {self.type} needs `after`, `before` or both", plugin_type=self.type)
        moment = _parse_datetime(self, _rendered_date(self, self.date, ctx))
        # A bound written without an offset is read in the tested date's own offset (its wall clock).
        own = moment.utcoffset() or timedelta(0)
        at = _offset_seconds(moment.timetz(), own)
        if self.after is not None and not at > _offset_seconds(self.after, own):
            return False
        return not (self.before is not None and not at < _offset_seconds(self.before, own))


class Weekend(Condition):
    """The date falls on a Saturday or a Sunday."""

    plugin: ClassVar[PluginInfo] = _info("Weekend", "The date falls on a Saturday or a Sunday.",
                                         _schedule_example("""
- type: io.kestra.plugin.core.condition.Weekend
"""))

    date: str = Field(default=_TRIGGER_DATE, description="The date tested; rendered.")

    def test(self, ctx: ConditionContext) -> bool:
        day = _parse_date(self, _rendered_date(self, self.date, ctx))
        return day.weekday() >= 5


class PublicHoliday(Condition):
    """The date is a public holiday of a country (or of one of its subdivisions)."""

    plugin: ClassVar[PluginInfo] = _info("PublicHoliday", "The date is a public holiday.", _schedule_example("""
- type: io.kestra.plugin.core.condition.PublicHoliday
  country: FR
"""))

    date: str = Field(default=_TRIGGER_DATE, min_length=1, description="The date tested; rendered.")
    country: str | None = Field(default=None, description=(
        "ISO 3166-1 alpha-2 country code; rendered. Unset: the country of the process's locale "
        "(LC_ALL or LANG, such as en_US.UTF-8), as Kestra takes the JVM's."))
    sub_division: str | None = Field(default=None, description=(
        "ISO 3166-2 subdivision code of the country (a state, a province), such as BE for Berlin; rendered."))

    def test(self, ctx: ConditionContext) -> bool:
        # The calendars are data of the `holidays` library (Kestra uses Jollyday): loaded on first use only.
        import holidays

        day = _parse_date(self, _rendered_date(self, self.date, ctx))
        country = _rendered_text(self.country, ctx).strip() if self.country is not None else _locale_country(self)
        subdivision = _rendered_text(self.sub_division, ctx).strip() if self.sub_division is not None else None
        try:
            calendar = holidays.country_holidays(country.upper(), subdiv=subdivision.upper() if subdivision else None,
                                                 years=day.year)
        except NotImplementedError as exc:
            raise PluginError(f"condition {self.type}: no public holiday calendar for country {country!r}"
                              + (f" and subdivision {subdivision!r}" if subdivision else "")
                              + f" ({exc}); use an ISO 3166-1 alpha-2 country code such as FR, and an ISO 3166-2 "
                              "subdivision code of that country such as BE for DE", plugin_type=self.type) from None
        return day in calendar


def _locale_country(condition: Condition) -> str:
    """The territory of the process's locale, as Java's default locale takes it from the environment."""
    for name in ("LC_ALL", "LANG"):
        value = os.environ.get(name, "")
        territory = value.split(".", 1)[0].split("@", 1)[0].partition("_")[2]
        if len(territory) == 2:
            return territory
    raise PluginError(f"condition {condition.type}: no `country` is set and the process's locale (LC_ALL, LANG) "
                      "names no country; set `country`, such as FR", plugin_type=condition.type)


class Not(Condition):
    """None of the conditions holds."""

    plugin: ClassVar[PluginInfo] = _info("Not", "None of the conditions holds.", _schedule_example("""
- type: io.kestra.plugin.core.condition.Not
  conditions:
    - type: io.kestra.plugin.core.condition.Weekend
"""))

    conditions: list[AnyCondition] = Field(min_length=1)

    def test(self, ctx: ConditionContext) -> bool:
        return not any(condition.test(ctx) for condition in self.conditions)


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

    def test(self, ctx: ConditionContext) -> bool:
        return any(condition.test(ctx) for condition in self.conditions)


class MultipleCondition(MultipleConditionBase):
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


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (
    ExecutionStatus, ExecutionFlow, ExecutionNamespace, ExecutionLabels, ExecutionOutputs, Expression, HasRetryAttempt,
    DayWeek, DayWeekInMonth, DateTimeBetween, TimeBetween, Weekend, PublicHoliday, Not, Or,
    MultipleCondition,
)
