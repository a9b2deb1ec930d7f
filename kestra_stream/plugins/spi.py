"""The trigger and condition primitives the engine acts on, which plugins subclass to name them.

As ``SleepTask``, ``PauseTask`` and ``SubflowTask`` in ``kestra_stream.models.task``, these carry
the properties and the validation the engine's own components rely on: the webhook API matches
``WebhookTrigger`` keys, the flow-trigger component fires ``FlowTrigger`` s and keeps the
precondition windows of ``Preconditions`` and ``MultipleConditionBase``. A plugin (the core one,
found through the ``kestra_stream.plugins`` entry points) subclasses them with its names and
documentation (``plugin = PluginInfo(...)``); the engine never imports the plugin, only these.

The task bases plugins implement are in ``kestra_stream.models.task`` and what a flowable
resolves with in ``kestra_stream.executor.flowables``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.durations import Duration
from kestra_stream.errors import PluginError
from kestra_stream.models.state import StateType
from kestra_stream.models.task import (
    TASK_ID_PATTERN,
    AnyCondition,
    Condition,
    ConditionContext,
    Trigger,
    not_implemented,
)


class Props(BaseModel):
    """A nested property object of a plugin (camelCase in flows, unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True, defer_build=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)


def as_text(value: Any) -> str:
    """A rendered value as the text Kestra would compare (``true`` rather than ``True``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class TimeWindowType(StrEnum):
    DAILY_TIME_DEADLINE = "DAILY_TIME_DEADLINE"
    DAILY_TIME_WINDOW = "DAILY_TIME_WINDOW"
    DURATION_WINDOW = "DURATION_WINDOW"
    SLIDING_WINDOW = "SLIDING_WINDOW"


# Which properties each window type accepts (Kestra's TimeWindowValidator).
_WINDOW_PROPS: dict[TimeWindowType, tuple[frozenset[str], frozenset[str]]] = {
    # type: (allowed, required)
    TimeWindowType.DAILY_TIME_DEADLINE: (frozenset({"deadline"}), frozenset({"deadline"})),
    TimeWindowType.DAILY_TIME_WINDOW: (frozenset({"startTime", "endTime"}),
                                       frozenset({"startTime", "endTime"})),
    TimeWindowType.DURATION_WINDOW: (frozenset({"window", "windowAdvance"}), frozenset()),
    TimeWindowType.SLIDING_WINDOW: (frozenset({"window"}), frozenset()),
}


class TimeWindow(Props):
    """The time window preconditions are evaluated in (a day, by default)."""

    type: TimeWindowType = TimeWindowType.DURATION_WINDOW
    window: Duration | None = None
    window_advance: Duration | None = None
    deadline: time | None = None
    start_time: time | None = None
    end_time: time | None = None

    @model_validator(mode="after")
    def _props_of_type(self) -> TimeWindow:
        allowed, required = _WINDOW_PROPS[self.type]
        given = {name for name, value in (("window", self.window), ("windowAdvance", self.window_advance),
                                          ("deadline", self.deadline), ("startTime", self.start_time),
                                          ("endTime", self.end_time)) if value is not None}
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(f"a time window of type {self.type.value} cannot have {', '.join(extra)}; "
                             f"it takes only {', '.join(sorted(allowed))}")
        missing = sorted(required - given)
        if missing:
            raise ValueError(f"a time window of type {self.type.value} needs {', '.join(missing)}")
        return self


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
    id: str = Field(pattern=TASK_ID_PATTERN)
    operand: Literal["AND", "OR"] = "AND"
    filters: list[ExecutionFilterItem] = Field(min_length=1)


class Preconditions(Props):
    """Upstream executions that must all have happened, within a time window, to start this flow."""

    id: str = Field(pattern=TASK_ID_PATTERN)
    time_window: TimeWindow = Field(default_factory=TimeWindow)
    reset_on_success: bool = True
    flows: list[UpstreamFlow] | None = None
    where: list[ExecutionFilter] | None = None


class MultipleConditionBase(Condition):
    """Every named condition has held within a time window: evaluated by the Flow trigger's precondition
    machine over that window, never on its own."""

    id: str = Field(pattern=TASK_ID_PATTERN)
    window: Duration | None = Field(default=None, description="The window length; a day by default.")
    window_advance: Duration | None = Field(default=None,
                                            description="Where the window starts after midnight.")
    reset_on_success: bool = True
    conditions: dict[str, AnyCondition] = Field(min_length=1)
    time_window: TimeWindow | None = Field(default=None, description="Newer form of window / windowAdvance.")

    def test(self, ctx: ConditionContext) -> bool:
        raise PluginError(f"MultipleCondition '{self.id}' is evaluated by the Flow trigger over a time window, "
                          f"not on its own; use it in a Flow trigger's conditions (or, better, its "
                          f"`preconditions`)", plugin_type=self.type)


def _terminated_states() -> list[StateType]:
    return [s for s in StateType if s.is_terminated]


class FlowTrigger(Trigger):
    """Starts an execution when executions of other flows change state (the flow-trigger component fires it)."""

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


class WebhookTrigger(Trigger):
    """Starts an execution from an HTTP call to the flow's webhook URL (the webhook API matches its key)."""

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
    def _no_multiple_condition(self) -> WebhookTrigger:
        if any(isinstance(c, MultipleConditionBase) for c in self.conditions or ()):
            raise ValueError(f"webhook trigger '{self.id}' cannot have a MultipleCondition; "
                             f"use a Flow trigger with preconditions instead")
        return self
