"""The ``trigger.*`` plugins: what starts an execution (declarations; the scheduler and API act on them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from kestra_stream.durations import Duration
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import AnyCondition, Trigger
from kestra_stream.plugins.spi import (
    ExecutionFilter,
    ExecutionFilterItem,
    FilterField,
    FilterType,
    FlowTrigger,
    Preconditions,
    TimeWindow,
    TimeWindowType,
    UpstreamFlow,
    WebhookTrigger,
)
from kestra_stream_plugin_core._base import Props, check_cron, check_timezone

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


class Flow(FlowTrigger):
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


class Webhook(WebhookTrigger):
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


__all__ = ["PLUGINS", "ExecutionFilter", "ExecutionFilterItem", "FilterField", "FilterType", "Flow", "Preconditions",
           "Schedule", "ScheduleBackfill", "ScheduleOnDates", "TimeWindow", "TimeWindowType", "UpstreamFlow", "Webhook"]


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Schedule, ScheduleOnDates, Flow, Webhook)
