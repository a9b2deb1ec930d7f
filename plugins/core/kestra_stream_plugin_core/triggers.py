"""The ``trigger.*`` plugins: what starts an execution (declarations; the scheduler and API act on them)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from kestra_stream.durations import Duration
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.state import StateType
from kestra_stream.models.task import AnyCondition, Trigger, not_implemented
from kestra_stream_plugin_core._base import ID_PATTERN, Props, check_cron, check_timezone
from kestra_stream_plugin_core._windows import TimeWindow
from kestra_stream_plugin_core.conditions import MultipleCondition

RecoverMissedSchedules = Literal["ALL", "LAST", "NONE"]


class ScheduleBackfill(Props):
    """A (deprecated) backfill: run every date of the schedule from ``start`` to ``end``."""

    start: datetime
    end: datetime | None = None
    labels: dict[str, str] | list[dict[str, str]] | None = None


class Schedule(Trigger):
    """Start an execution on a cron schedule."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.trigger.Schedule",
        short="trigger.Schedule",
        aliases=("io.kestra.core.models.triggers.types.Schedule",),
        title="Start an execution on a cron schedule.",
        examples=(
            """\
id: every_15_minutes
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "scheduled at {{ trigger.date }}"
triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "*/15 * * * *"
    timezone: Europe/Paris
""",
            """\
id: first_monday
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: first Monday of the month
triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 11 * * 1#1"
    recoverMissedSchedules: LAST
""",
        ),
    )

    cron: str = Field(description="Five fields (six, seconds first, with `withSeconds`), or @daily ...")
    with_seconds: bool = Field(default=False, description="The cron has a sixth, leading, seconds field.")
    timezone: str | None = Field(
        default=None, description="IANA time zone the cron is read in; the server's zone by default.")
    inputs: dict[str, Any] | None = Field(default=None, description="Inputs of the executions it starts.")
    backfill: ScheduleBackfill | None = Field(default=None, description="Deprecated: start a backfill.")
    recover_missed_schedules: RecoverMissedSchedules | None = Field(
        default=None, description="Which dates missed while stopped run: ALL (server default), LAST or NONE.")
    late_maximum_delay: Duration | None = Field(
        default=None, description="Skip a date whose execution could not start within this delay.")
    schedule_conditions: list[AnyCondition] | None = Field(
        default=None, description="Deprecated: use `conditions`.")

    @model_validator(mode="after")
    def _valid_cron(self) -> Schedule:
        try:
            check_cron(self.cron, with_seconds=self.with_seconds)
        except ValueError as exc:
            raise ValueError(f"trigger '{self.id}': {exc}") from None
        return self

    @field_validator("timezone", mode="after")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    def all_conditions(self) -> list[Any]:
        """``conditions`` followed by the older ``scheduleConditions``, as Kestra evaluates them."""
        return [*(self.conditions or ()), *(self.schedule_conditions or ())]


class ScheduleOnDates(Trigger):
    """Start an execution at each of a list of dates."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.trigger.ScheduleOnDates",
        short="trigger.ScheduleOnDates",
        title="Start an execution at each of a list of dates.",
        examples=(
            """\
id: on_dates
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date }}"
triggers:
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    timezone: Europe/Paris
    dates:
      - 2025-12-24T18:00:00+01:00
      - 2025-12-31T23:00:00+01:00
""",
        ),
    )

    dates: list[datetime] | str = Field(description="The dates, or an expression rendering a list of them.")
    timezone: str | None = Field(default=None, description="IANA time zone; the server's zone by default.")
    inputs: dict[str, Any] | None = Field(default=None, description="Inputs of the executions it starts.")
    recover_missed_schedules: RecoverMissedSchedules | None = Field(
        default=None, description="Which dates missed while stopped run: ALL (server default), LAST or NONE.")

    @field_validator("timezone", mode="after")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class UpstreamFlow(Props):
    namespace: str
    flow_id: str | None = None
    states: list[StateType] | None = None
    labels: dict[str, Any] | None = None


class FilterField(StrEnum):
    FLOW_ID = "FLOW_ID"
    NAMESPACE = "NAMESPACE"
    STATE = "STATE"
    EXPRESSION = "EXPRESSION"


class FilterType(StrEnum):
    EQUAL_TO = "EQUAL_TO"
    NOT_EQUAL_TO = "NOT_EQUAL_TO"
    IN = "IN"
    NOT_IN = "NOT_IN"
    IS_TRUE = "IS_TRUE"
    IS_FALSE = "IS_FALSE"
    IS_NULL = "IS_NULL"
    IS_NOT_NULL = "IS_NOT_NULL"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    REGEX = "REGEX"
    CONTAINS = "CONTAINS"


class ExecutionFilterItem(Props):
    field: FilterField
    type: FilterType
    value: str | None = None
    values: list[str] | None = None

    @model_validator(mode="after")
    def _operand_given(self) -> ExecutionFilterItem:
        if self.type in (FilterType.IN, FilterType.NOT_IN) and self.values is None:
            raise ValueError(f"a filter of type {self.type.value} needs `values` (a list)")
        needs_value = self.type not in (FilterType.IN, FilterType.NOT_IN, FilterType.IS_TRUE,
                                        FilterType.IS_FALSE, FilterType.IS_NULL, FilterType.IS_NOT_NULL)
        if needs_value and self.value is None:
            raise ValueError(f"a filter of type {self.type.value} needs `value`")
        return self


class ExecutionFilter(Props):
    id: str = Field(pattern=ID_PATTERN)
    operand: Literal["AND", "OR"] = "AND"
    filters: list[ExecutionFilterItem] = Field(min_length=1)


class Preconditions(Props):
    """Upstream executions that must all have happened, within a time window, to start this flow."""

    id: str = Field(pattern=ID_PATTERN)
    time_window: TimeWindow = Field(default_factory=TimeWindow)
    reset_on_success: bool = True
    flows: list[UpstreamFlow] | None = None
    where: list[ExecutionFilter] | None = None


def _terminated_states() -> list[StateType]:
    return [s for s in StateType if s.is_terminated]


class Flow(Trigger):
    """Start an execution when executions of other flows change state."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.trigger.Flow",
        short="trigger.Flow",
        aliases=("io.kestra.core.models.triggers.types.Flow",),
        title="Start an execution when executions of other flows change state.",
        examples=(
            """\
id: transform
namespace: company.team
inputs:
  - id: date
    type: STRING
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "after {{ trigger.executionId }}"
triggers:
  - id: after_extract
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      date: "{{ trigger.outputs.date }}"
    preconditions:
      id: extract_done
      flows:
        - namespace: company.team
          flowId: extract
          states: [SUCCESS]
""",
            """\
id: alert
namespace: system
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.flowId }} ended {{ trigger.state }}"
triggers:
  - id: on_failure
    type: io.kestra.plugin.core.trigger.Flow
    states: [FAILED, WARNING]
    preconditions:
      id: company
      where:
        - id: company_namespace
          filters:
            - field: NAMESPACE
              type: STARTS_WITH
              value: company
""",
        ),
    )

    inputs: dict[str, Any] | None = Field(default=None, description="Inputs of the executions it starts.")
    states: list[StateType] = Field(default_factory=_terminated_states,
                                    description="The states reacted to; every terminal state by default.")
    preconditions: Preconditions | None = Field(default=None, description="Upstream executions to wait for.")

    @field_validator("states", mode="after")
    @classmethod
    def _not_created(cls, value: list[StateType]) -> list[StateType]:
        if StateType.CREATED in value:
            raise ValueError("a Flow trigger cannot react to CREATED (it reacts to state changes); "
                             "use RUNNING or a terminal state such as SUCCESS")
        return value


class Webhook(Trigger):
    """Start an execution from an HTTP call to the flow's webhook URL."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.trigger.Webhook",
        short="trigger.Webhook",
        aliases=("io.kestra.core.models.triggers.types.Webhook",),
        title="Start an execution from a call to /api/v1/executions/webhook/{namespace}/{flowId}/{key}.",
        examples=(
            """\
id: webhook_flow
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.body }}"
triggers:
  - id: webhook
    type: io.kestra.plugin.core.trigger.Webhook
    key: 4wjtkzwVGBM9yKnjm3yv8r
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.body.hello == 'world' }}"
""",
        ),
    )

    key: str = Field(min_length=1, max_length=256, description="The secret key of the webhook URL.")
    inputs: dict[str, Any] | None = Field(default=None, description="Inputs of the executions it starts.")
    wait: bool = Field(default=False, description="Answer the call only once the execution has ended.")
    return_outputs: bool = Field(default=False, description="With `wait`, answer with the flow's outputs.")
    response_content_type: str | None = Field(default=None, description="Content type of the answer.")

    @field_validator("response_content_type")
    @classmethod
    def _json_answers(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(not_implemented("responseContentType", "webhook answers are JSON; remove it"))
        return value

    @model_validator(mode="after")
    def _no_multiple_condition(self) -> Webhook:
        if any(isinstance(c, MultipleCondition) for c in self.conditions or ()):
            raise ValueError(f"webhook trigger '{self.id}' cannot have a MultipleCondition; "
                             f"use a Flow trigger with preconditions instead")
        return self
