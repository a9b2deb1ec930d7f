"""Which Flow triggers fire on an upstream state change (pure matcher)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kestra_stream.flows import load_flow
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import State, StateType
from kestra_stream.triggers._flow import Evaluation, UpstreamEvent, any_listening, evaluate, trigger_variables
from kestra_stream.triggers._preconditions import PreconditionState

T0 = datetime(2025, 3, 3, 10, 30, tzinfo=UTC)
TASKS = """
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def flow(head: str, triggers: str = "") -> Flow:
    return load_flow(head.strip() + "\n" + TASKS + ("triggers:\n" + triggers if triggers else ""))


def ended(flow_id: str, state: StateType = StateType.SUCCESS, *, execution_id: str | None = None,
          namespace: str = "company.team", at: datetime = T0, labels: dict[str, str] | None = None) -> UpstreamEvent:
    history = State.new(StateType.CREATED, at).with_state(StateType.RUNNING, at).with_state(state, at)
    execution = Execution(id=execution_id or f"{flow_id}-1", namespace=namespace, flow_id=flow_id,
                          flow_revision=2, state=history, labels=labels or {}, outputs={"x": 42})
    return UpstreamEvent(execution=execution, at=at)


ON_SUCCESS = flow("id: b\nnamespace: company.team", """
  - id: after_a
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: company.team
        flowId: a
""")

BOTH = flow("id: c\nnamespace: company.team", """
  - id: after_a_and_b
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - namespace: company.team
          flowId: a
          states: [SUCCESS]
        - namespace: company.team
          flowId: b
""")


def fired(evaluation: Evaluation) -> list[str]:
    return [f"{f.flow.id}/{f.trigger.id}" for f in evaluation.firings]


def test_fires_on_a_listed_state_when_conditions_hold() -> None:
    result = evaluate(ended("a"), [ON_SUCCESS], {})
    assert fired(result) == ["b/after_a"]
    assert result.firings[0].key == "a-1:SUCCESS:3"
    assert result.states == {}


def test_does_not_fire_on_an_unlisted_state_or_when_a_condition_fails() -> None:
    assert fired(evaluate(ended("a", StateType.FAILED), [ON_SUCCESS], {})) == []
    assert fired(evaluate(ended("other"), [ON_SUCCESS], {})) == []


def test_default_states_are_the_terminal_ones() -> None:
    any_end = flow("id: b\nnamespace: company.team", """
  - id: any_end
    type: io.kestra.plugin.core.trigger.Flow
""")
    assert fired(evaluate(ended("a", StateType.FAILED), [any_end], {})) == ["b/any_end"]
    running = ended("a", StateType.RUNNING)
    assert fired(evaluate(running, [any_end], {})) == []


def test_a_flow_never_triggers_itself() -> None:
    itself = flow("id: a\nnamespace: company.team", """
  - id: loop
    type: io.kestra.plugin.core.trigger.Flow
""")
    assert fired(evaluate(ended("a"), [itself], {})) == []


def test_disabled_triggers_and_flows_never_fire() -> None:
    disabled_trigger = flow("id: b\nnamespace: company.team", """
  - id: off
    type: io.kestra.plugin.core.trigger.Flow
    disabled: true
""")
    disabled_flow = flow("id: d\nnamespace: company.team\ndisabled: true", """
  - id: on
    type: io.kestra.plugin.core.trigger.Flow
""")
    assert fired(evaluate(ended("a"), [disabled_trigger, disabled_flow], {})) == []


def test_a_condition_that_cannot_be_evaluated_does_not_hold() -> None:
    broken = flow("id: b\nnamespace: company.team", """
  - id: broken
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.missing.deeper }}"
""")
    assert fired(evaluate(ended("a"), [broken], {})) == []


def test_trigger_variables_are_kestras_names_plus_outputs_and_labels() -> None:
    event = ended("a", labels={"team": "data"})
    assert trigger_variables(event.execution) == {
        "executionId": "a-1", "namespace": "company.team", "flowId": "a", "flowRevision": 2,
        "state": "SUCCESS", "outputs": {"x": 42}, "labels": {"team": "data"}}
    assert evaluate(event, [ON_SUCCESS], {}).firings[0].variables == trigger_variables(event.execution)


def test_preconditions_fire_once_after_both_upstream_flows() -> None:
    first = evaluate(ended("a"), [BOTH], {})
    assert fired(first) == []
    uid = "company.team/c/after_a_and_b/both"
    stored = first.states[uid]
    assert stored is not None and list(stored.results) == ["condition_1"]
    second = evaluate(ended("b", at=T0 + timedelta(minutes=5)), [BOTH], {uid: stored})
    assert fired(second) == ["c/after_a_and_b"]
    assert second.firings[0].key == "a-1:SUCCESS:3+b-1:SUCCESS:3"
    assert second.states == {uid: None}  # reset on success


def test_preconditions_ignore_upstream_states_they_do_not_list() -> None:
    result = evaluate(ended("a", StateType.FAILED), [BOTH], {})
    assert fired(result) == [] and result.states == {}


def test_preconditions_where_filters() -> None:
    where = flow("id: alert\nnamespace: system", """
  - id: on_failure
    type: io.kestra.plugin.core.trigger.Flow
    states: [FAILED]
    preconditions:
      id: company
      where:
        - id: company_namespace
          filters:
            - field: NAMESPACE
              type: STARTS_WITH
              value: company
            - field: EXPRESSION
              type: IS_TRUE
              value: "{{ trigger.outputs.x > 40 }}"
        - id: either
          operand: OR
          filters:
            - field: FLOW_ID
              type: IN
              values: [a, b]
            - field: STATE
              type: EQUAL_TO
              value: KILLED
""")
    assert fired(evaluate(ended("a", StateType.FAILED), [where], {})) == ["alert/on_failure"]
    assert fired(evaluate(ended("z", StateType.FAILED), [where], {})) == []
    assert fired(evaluate(ended("a", StateType.FAILED, namespace="other"), [where], {})) == []


def test_upstream_flow_labels_must_all_match() -> None:
    labelled = flow("id: c\nnamespace: company.team", """
  - id: t
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: p
      flows:
        - namespace: company.team
          labels: {team: data, critical: true}
""")
    assert fired(evaluate(ended("a", labels={"team": "data", "critical": "true"}), [labelled], {})) == ["c/t"]
    assert fired(evaluate(ended("a", labels={"team": "data"}), [labelled], {})) == []


def test_legacy_multiple_condition_acts_as_a_precondition_set() -> None:
    legacy = flow("id: c\nnamespace: company.team", """
  - id: t
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.MultipleCondition
        id: both
        window: PT1H
        conditions:
          a:
            type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: company.team
            flowId: a
          b:
            type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: company.team
            flowId: b
""")
    first = evaluate(ended("a"), [legacy], {})
    stored = first.states["company.team/c/t/both"]
    assert stored is not None
    too_late = evaluate(ended("b", at=T0 + timedelta(hours=1)), [legacy], {"company.team/c/t/both": stored})
    assert fired(too_late) == []
    in_time = evaluate(ended("b", at=T0 + timedelta(minutes=10)), [legacy], {"company.team/c/t/both": stored})
    assert fired(in_time) == ["c/t"]


def test_an_expired_stored_window_is_replaced() -> None:
    uid = "company.team/c/after_a_and_b/both"
    old = evaluate(ended("a", at=T0 - timedelta(days=1)), [BOTH], {}).states[uid]
    assert isinstance(old, PreconditionState)
    result = evaluate(ended("b"), [BOTH], {uid: old})
    assert fired(result) == []
    new = result.states[uid]
    assert new is not None and list(new.results) == ["condition_2"]


def test_only_an_enabled_flow_trigger_of_an_enabled_flow_listens() -> None:
    disabled_trigger = flow("id: b\nnamespace: company.team", """
  - id: off
    type: io.kestra.plugin.core.trigger.Flow
    disabled: true
""")
    disabled_flow = flow("id: d\nnamespace: company.team\ndisabled: true", """
  - id: on
    type: io.kestra.plugin.core.trigger.Flow
""")
    plain = flow("id: p\nnamespace: company.team")
    assert not any_listening([plain, disabled_trigger, disabled_flow])
    assert any_listening([plain, ON_SUCCESS])
