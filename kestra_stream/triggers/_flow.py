"""Which Flow triggers fire when an upstream execution changes state (pure: no I/O, no clock).

For one upstream state change and the latest flows, as Kestra's ``FlowTriggerService`` does:

1. every enabled Flow trigger of every enabled flow other than the upstream's own (a flow never
   triggers itself) that lists the new state in ``states`` (terminal states by default);
2. whose ``conditions`` all hold (a condition that cannot be evaluated counts as not holding);
3. whose precondition sets (``preconditions``, and older ``MultipleCondition`` conditions) are
   complete within their time window after this event (see ``_preconditions``).

A firing carries Kestra's trigger variables (``executionId, namespace, flowId, flowRevision,
state``, plus ``outputs`` and ``labels`` of the upstream execution) and a key naming the
upstream state change(s) that caused it, from which the started execution's id is derived.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from kestra_stream.errors import KestraStreamError
from kestra_stream.expressions import FixedFunctions, default_engine
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.task import Condition, ConditionContext
from kestra_stream.plugins.spi import (
    ExecutionFilter,
    FilterField,
    FilterType,
    FlowTrigger,
    TimeWindow,
    UpstreamFlow,
    as_text,
)
from kestra_stream.plugins.spi import MultipleConditionBase as MultipleCondition
from kestra_stream.triggers._preconditions import Met, PreconditionState, advance, firing_key

log = structlog.get_logger(__name__)

_FALSE_TEXTS = ("false", "0", "-0", "")


@dataclass(frozen=True)
class UpstreamEvent:
    """One state change of an upstream execution, seen at ``at``."""

    execution: Execution
    at: datetime

    @property
    def transition(self) -> int:
        """Which state change of the execution this is (its number of state histories)."""
        return len(self.execution.state.histories)

    @property
    def met(self) -> Met:
        ex = self.execution
        return Met(execution_id=ex.id, state=ex.state.current.value, transition=self.transition, at=self.at)

    @property
    def key(self) -> str:
        return self.met.key


def trigger_variables(execution: Execution) -> dict[str, Any]:
    """``{{ trigger.* }}`` of an execution started by a Flow trigger (Kestra's names)."""
    return {"executionId": execution.id, "namespace": execution.namespace, "flowId": execution.flow_id,
            "flowRevision": execution.flow_revision, "state": execution.state.current.value,
            "outputs": dict(execution.outputs or {}), "labels": dict(execution.labels)}


@dataclass(frozen=True)
class Firing:
    """A Flow trigger to fire: start ``flow`` with these trigger variables, once per ``key``."""

    flow: Flow
    trigger: FlowTrigger
    variables: dict[str, Any]
    key: str


@dataclass(frozen=True)
class Evaluation:
    """What one upstream event leads to: firings, and precondition states to store (None: delete)."""

    firings: list[Firing] = field(default_factory=list)
    states: dict[str, PreconditionState | None] = field(default_factory=dict)


Predicate = Callable[[ConditionContext], bool]


@dataclass(frozen=True)
class PreconditionSet:
    """One set of named conditions to meet within a time window."""

    uid: str
    window: TimeWindow
    reset_on_success: bool
    conditions: dict[str, Predicate]


def precondition_uid(flow: Flow, trigger: FlowTrigger, set_id: str) -> str:
    return f"{flow.namespace}/{flow.id}/{trigger.id}/{set_id}"


def precondition_sets(flow: Flow, trigger: FlowTrigger) -> list[PreconditionSet]:
    """The trigger's ``preconditions`` and older ``MultipleCondition`` conditions, named as Kestra names them."""
    sets: list[PreconditionSet] = []
    for condition in trigger.conditions or ():
        if isinstance(condition, MultipleCondition):
            window = condition.time_window or TimeWindow.model_validate(
                {"window": condition.window, "windowAdvance": condition.window_advance})
            sets.append(PreconditionSet(precondition_uid(flow, trigger, condition.id), window,
                                        condition.reset_on_success,
                                        {cid: c.test for cid, c in condition.conditions.items()}))
    pre = trigger.preconditions
    if pre is not None:
        conditions: dict[str, Predicate] = {}
        number = 0
        for upstream in pre.flows or ():
            number += 1
            conditions[f"condition_{number}"] = _upstream_flow_test(upstream)
        for where in pre.where or ():
            number += 1
            conditions[f"condition_{number}_{where.id}"] = _filter_test(where)
        if conditions:  # Kestra: preconditions naming nothing are always met
            sets.append(PreconditionSet(precondition_uid(flow, trigger, pre.id), pre.time_window,
                                        pre.reset_on_success, conditions))
    return sets


def _upstream_flow_test(upstream: UpstreamFlow) -> Predicate:
    def test(ctx: ConditionContext) -> bool:
        ex = ctx.execution
        if ex is None or ex.namespace != upstream.namespace:
            return False
        if upstream.flow_id is not None and ex.flow_id != upstream.flow_id:
            return False
        if upstream.states is not None and ex.state.current not in upstream.states:
            return False
        return all(ex.labels.get(str(k)) == as_text(v) for k, v in (upstream.labels or {}).items())

    return test


def _filter_test(where: ExecutionFilter) -> Predicate:
    def test(ctx: ConditionContext) -> bool:
        results = (_filter_item(item.field, item.type, item.value, item.values, ctx) for item in where.filters)
        return all(results) if where.operand == "AND" else any(results)

    return test


def _filter_item(field_: FilterField, kind: FilterType, value: str | None, values: list[str] | None,
                 ctx: ConditionContext) -> bool:
    ex = ctx.execution
    if ex is None:
        return False
    actual: str | None
    match field_:
        case FilterField.FLOW_ID:
            actual = ex.flow_id
        case FilterField.NAMESPACE:
            actual = ex.namespace
        case FilterField.STATE:
            actual = ex.state.current.value
        case FilterField.EXPRESSION:
            # As Kestra: the expression is `value`, and its rendering is the value compared.
            functions = FixedFunctions(ctx.date) if ctx.date is not None else None
            actual = default_engine().render(value or "", ctx.variables, functions)
    match kind:
        case FilterType.EQUAL_TO:
            return actual == value
        case FilterType.NOT_EQUAL_TO:
            return actual != value
        case FilterType.IN:
            return actual in (values or ())
        case FilterType.NOT_IN:
            return actual not in (values or ())
        case FilterType.IS_TRUE:
            return actual is not None and actual not in _FALSE_TEXTS
        case FilterType.IS_FALSE:
            return actual is None or actual in _FALSE_TEXTS
        case FilterType.IS_NULL:
            return actual is None
        case FilterType.IS_NOT_NULL:
            return actual is not None
        case FilterType.STARTS_WITH:
            return actual is not None and actual.startswith(value or "")
        case FilterType.ENDS_WITH:
            return actual is not None and actual.endswith(value or "")
        case FilterType.REGEX:
            return actual is not None and re.fullmatch(value or "", actual) is not None
        case FilterType.CONTAINS:
            return actual is not None and (value or "") in actual


def condition_context(flow: Flow, event: UpstreamEvent) -> ConditionContext:
    """What a Flow trigger's conditions of ``flow`` are tested against for an upstream event."""
    ex = event.execution
    variables = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
        "execution": {"id": ex.id, "namespace": ex.namespace, "flowId": ex.flow_id,
                      "state": ex.state.current.value},
        "labels": dict(ex.labels),
        "trigger": trigger_variables(ex),
        "vars": flow.variables or {},
    }
    return ConditionContext(flow=flow, variables=variables, date=event.at, execution=ex)


def _holds(test: Predicate, ctx: ConditionContext, where: str) -> bool:
    try:
        return test(ctx)
    except KestraStreamError as exc:
        # As Kestra: a condition that cannot be evaluated is logged and does not hold.
        log.warning("flow_trigger_condition_failed", where=where, error=str(exc),
                    upstream_execution_id=ctx.execution.id if ctx.execution else None)
        return False


def _enabled_flow_triggers(flow: Flow) -> Iterator[FlowTrigger]:
    if flow.disabled or flow.deleted:
        return
    for trigger in flow.triggers or ():
        if isinstance(trigger, FlowTrigger) and not trigger.disabled:
            yield trigger


def listening_triggers(event: UpstreamEvent, flows: Iterable[Flow]) -> list[tuple[Flow, FlowTrigger]]:
    """Enabled Flow triggers of other enabled flows that react to this event's state."""
    ex = event.execution
    return [(flow, trigger) for flow in flows if (flow.namespace, flow.id) != (ex.namespace, ex.flow_id)
            for trigger in _enabled_flow_triggers(flow) if ex.state.current in trigger.states]


def any_listening(flows: Iterable[Flow]) -> bool:
    """Whether an enabled Flow trigger of an enabled flow could react to some execution at all."""
    return any(True for flow in flows for _ in _enabled_flow_triggers(flow))


def evaluate(event: UpstreamEvent, flows: Iterable[Flow],
             stored: Mapping[str, PreconditionState]) -> Evaluation:
    """The Flow triggers this upstream event fires, and the precondition states it leaves."""
    result = Evaluation()
    for flow, trigger in listening_triggers(event, flows):
        ctx = condition_context(flow, event)
        where = f"{flow.namespace}/{flow.id}/{trigger.id}"
        plain = [c for c in trigger.conditions or () if not isinstance(c, MultipleCondition)]
        if not all(_holds(_test_of(c), ctx, where) for c in plain):
            continue
        contributors: list[Met] = []
        complete = True
        for pre in precondition_sets(flow, trigger):
            met = {cid: event.met for cid, test in pre.conditions.items() if _holds(test, ctx, f"{where}/{cid}")}
            state, fired = advance(pre.window, list(pre.conditions), pre.reset_on_success,
                                   stored.get(pre.uid), met, event.at)
            if state is not None or pre.uid in stored:
                result.states[pre.uid] = state
            if fired is None:
                complete = False
            else:
                contributors.extend(fired)
        if complete:
            key = firing_key(contributors) if contributors else event.key
            result.firings.append(Firing(flow, trigger, trigger_variables(event.execution), key))
    return result


def _test_of(condition: Condition) -> Predicate:
    return condition.test
