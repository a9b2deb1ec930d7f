"""Flow-wide rules in the fold: flow and flowable retries, SLAs, checks' outcome, the correlation id."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from fold_driver import EXECUTION_ID, T0, Driver, FirstInLine

from kestra_stream.errors import ExecutionBlockedError
from kestra_stream.executor._flow_rules import retry_execution_id
from kestra_stream.executor.checks import failed_checks
from kestra_stream.executor.commands import CreateExecution, EmitLog, ScheduleTimer
from kestra_stream.executor.events import FailedCheck
from kestra_stream.executor.fold import fold
from kestra_stream.expressions import FixedFunctions, default_engine
from kestra_stream.flows import load_flow
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType

FAIL = "io.kestra.plugin.core.execution.Fail"
LOG = "io.kestra.plugin.core.log.Log"
OK, FAILED = StateType.SUCCESS, StateType.FAILED


def flow(body: str) -> Flow:
    return load_flow("id: f\nnamespace: tests.rules\n" + textwrap.dedent(body))


def attempts(d: Driver, task_id: str, iteration: int | None = None) -> int:
    return len(d.taskrun(task_id, iteration).attempts)


def test_a_flow_retry_retries_the_failed_task_inside_the_execution() -> None:
    d = Driver(flow(f"""\
        retry: {{behavior: RETRY_FAILED_TASK, type: constant, maxAttempt: 4, interval: PT1S}}
        tasks:
          - id: fail
            type: {FAIL}
        """))
    state = d.run(FirstInLine(default=FAILED))
    assert state.execution.state.current == FAILED
    assert attempts(d, "fail") == 4


def test_a_task_retry_wins_over_the_flow_retry() -> None:
    d = Driver(flow(f"""\
        retry: {{type: constant, maxAttempts: 5, interval: PT1S}}
        tasks:
          - id: fail
            type: {FAIL}
            retry: {{type: constant, maxAttempts: 2, interval: PT1S}}
        """))
    d.run(FirstInLine(default=FAILED))
    assert attempts(d, "fail") == 2


def test_a_retry_on_a_sequential_retries_its_failed_child() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: flowable
            type: io.kestra.plugin.core.flow.Sequential
            retry: {{type: constant, interval: PT1S, maxAttempt: 3}}
            tasks:
              - id: child
                type: {FAIL}
        """))
    state = d.run(FirstInLine(default=FAILED))
    assert state.execution.state.current == FAILED
    assert attempts(d, "child") == 3
    assert attempts(d, "flowable") == 0  # the flowable itself is never retried


def test_a_retry_on_a_foreach_retries_each_failed_iteration() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            concurrencyLimit: 0
            values: [0, 1]
            retry: {{type: constant, interval: PT1S, maxAttempt: 3}}
            tasks:
              - id: child
                type: {FAIL}
        """))
    d.run(FirstInLine(default=FAILED))
    assert attempts(d, "child", 0) >= 2
    assert attempts(d, "child", 1) >= 2


def test_a_flowable_retry_lets_a_child_succeed_on_a_later_attempt() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: flowable
            type: io.kestra.plugin.core.flow.Sequential
            retry: {{type: constant, interval: PT1S, maxAttempt: 3, warningOnRetry: true}}
            tasks:
              - id: child
                type: {LOG}
                message: hi
        """))
    d.create()
    d.result(d.job("child"), FAILED)
    d.fire(f"retry:{d.taskrun('child').id}:2")
    d.result(d.job("child"), OK)
    assert d.taskrun("child").current == StateType.WARNING
    assert d.execution.state.current == StateType.WARNING


def test_create_new_execution_ends_the_execution_retried_and_asks_for_the_next_try() -> None:
    d = Driver(flow(f"""\
        labels: {{team: data}}
        retry: {{behavior: CREATE_NEW_EXECUTION, type: constant, maxAttempt: 3, interval: PT5S}}
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: fail
                type: {FAIL}
        """))
    d.create(inputs={"x": 1})
    commands = d.result(d.job("fail"), FAILED)
    assert d.execution.state.current == StateType.RETRIED
    assert d.taskrun("fail").current == StateType.RETRIED
    assert d.taskrun("seq").current == StateType.RETRIED
    assert d.ended is not None and d.ended.state == StateType.RETRIED
    created = next(c for c in commands if isinstance(c, CreateExecution)).created
    assert created.execution_id == retry_execution_id(EXECUTION_ID)
    assert created.metadata is not None and created.metadata.attempt_number == 2
    assert created.metadata.original_created_date == T0
    assert created.original_id == EXECUTION_ID
    assert created.inputs == {"x": 1}
    assert created.labels["system.correlationId"] == EXECUTION_ID
    assert created.start_at == d.now + timedelta(seconds=5)

    # The next try waits CREATED for the interval, then runs the flow from the start.
    second, commands = fold(None, created, d.flow)
    assert second is not None and second.execution.state.current == StateType.CREATED
    timer = next(c for c in commands if isinstance(c, ScheduleTimer))
    assert (timer.purpose, timer.fire_at) == ("execution_start", created.start_at)


def test_create_new_execution_gives_up_at_max_attempts() -> None:
    d = Driver(flow(f"""\
        retry: {{behavior: CREATE_NEW_EXECUTION, type: constant, maxAttempt: 3, interval: PT1S}}
        tasks:
          - id: fail
            type: {FAIL}
        """))
    tries: list[StateType] = []
    created = None
    for _ in range(3):
        d2 = Driver(d.flow, execution_id=created.execution_id if created else EXECUTION_ID)
        if created is None:
            d2.create()
        else:
            d2.send(created.model_copy(update={"start_at": None}))
        commands = d2.result(d2.job("fail"), FAILED)
        tries.append(d2.execution.state.current)
        created = next((c.created for c in commands if isinstance(c, CreateExecution)), None)
    assert tries == [StateType.RETRIED, StateType.RETRIED, FAILED]
    assert created is None
    assert d2.execution.metadata.attempt_number == 3


def test_a_max_duration_sla_fails_a_running_execution_when_its_timer_fires() -> None:
    d = Driver(flow("""\
        sla:
          - id: quick
            type: MAX_DURATION
            behavior: FAIL
            duration: PT1S
            labels: {sla: missed}
        tasks:
          - id: sleep
            type: io.kestra.plugin.core.flow.Sleep
            duration: PT10S
        """))
    commands = d.create()
    sla_timer = next(c for c in commands if isinstance(c, ScheduleTimer) and c.purpose == "sla")
    assert sla_timer.fire_at == T0 + timedelta(seconds=1)
    commands = d.fire(sla_timer.timer_id)
    assert d.execution.state.current == FAILED
    assert d.taskrun("sleep").current == FAILED
    assert d.execution.labels["sla"] == "missed"
    assert any(isinstance(c, EmitLog) and "SLA 'quick' violated" in c.message for c in commands)


def test_a_max_duration_sla_timer_after_the_end_changes_nothing() -> None:
    d = Driver(flow(f"""\
        sla: [{{id: slow, type: MAX_DURATION, behavior: CANCEL, duration: PT1H}}]
        tasks:
          - id: a
            type: {LOG}
            message: a
        """))
    d.create()
    d.result(d.job("a"), OK)
    assert d.execution.state.current == OK
    before = d.state
    assert d.fire(f"sla:{EXECUTION_ID}:slow") == []
    assert d.state is before


@pytest.mark.parametrize(("value", "state", "labels"), [
    ("PASS", OK, {}),
    ("CANCEL", StateType.CANCELLED, {}),
    ("LABEL", OK, {"sla": "violated"}),
])
def test_an_execution_assertion_is_checked_as_the_execution_ends(value: str, state: StateType,
                                                                 labels: dict[str, str]) -> None:
    d = Driver(flow(f"""\
        sla:
          - id: cancel
            type: EXECUTION_ASSERTION
            behavior: CANCEL
            assert: "{{{{ inputs.value != 'CANCEL' }}}}"
          - id: label
            type: EXECUTION_ASSERTION
            behavior: NONE
            assert: "{{{{ inputs.value != 'LABEL' }}}}"
            labels: {{sla: violated}}
        tasks:
          - id: a
            type: {LOG}
            message: a
        """))
    d.create(inputs={"value": value})
    d.result(d.job("a"), OK)
    assert d.execution.state.current == state
    assert {k: v for k, v in d.execution.labels.items() if k == "sla"} == labels


def test_every_execution_carries_its_correlation_id_and_hands_it_to_its_children() -> None:
    d = Driver(flow("""\
        tasks:
          - id: call
            type: io.kestra.plugin.core.flow.Subflow
            namespace: tests.rules
            flowId: child
        """))
    d.create()
    assert d.execution.labels["system.correlationId"] == EXECUTION_ID
    (start,) = d.subflows.values()
    assert start.labels["system.correlationId"] == EXECUTION_ID
    child = Driver(flow(f"tasks:\n  - id: a\n    type: {LOG}\n    message: a\n"), execution_id="child-1")
    child.create(labels=start.labels)
    assert child.execution.labels["system.correlationId"] == EXECUTION_ID


def test_a_failed_fail_execution_check_creates_the_execution_failed_with_its_message() -> None:
    d = Driver(flow(f"tasks:\n  - id: a\n    type: {LOG}\n    message: a\n"))
    commands = d.create(failed_checks=[FailedCheck(message="too late", style="ERROR", fail=True)])
    assert d.execution.state.current == FAILED
    assert d.execution.task_run_list == ()
    assert d.ended is not None
    assert any(isinstance(c, EmitLog) and c.message == "Flow check failed: too late" for c in commands)


CHECKED = f"""\
    inputs:
      - {{id: n, type: INT}}
    checks:
      - condition: "{{{{ inputs.n > 0 }}}}"
        message: n must be positive
      - condition: "{{{{ inputs.n < 100 }}}}"
        message: n is large
        behavior: CREATE_EXECUTION
        style: WARNING
      - condition: "{{{{ inputs.n < 1000 }}}}"
        message: n is far too large
        behavior: FAIL_EXECUTION
    tasks:
      - id: a
        type: {LOG}
        message: a
    """


def _checks(n: int) -> list[FailedCheck]:
    def render(template: str, variables: object) -> object:
        return default_engine().render_typed(template, variables, FixedFunctions(T0))  # type: ignore[arg-type]

    return failed_checks(flow(CHECKED), {"n": n}, {}, render=render, envs={}, globals_={})


def test_checks_that_hold_say_nothing() -> None:
    assert _checks(5) == []


def test_a_blocking_check_refuses_the_execution_with_its_message() -> None:
    with pytest.raises(ExecutionBlockedError, match="n must be positive"):
        _checks(-1)


def test_non_blocking_checks_are_kept_for_the_execution() -> None:
    assert _checks(500) == [FailedCheck(message="n is large", style="WARNING", fail=False)]
    assert [c.fail for c in _checks(5000)] == [False, True]


def test_a_failed_subflow_with_a_retry_starts_a_new_child_per_attempt() -> None:
    d = Driver(flow("""\
        tasks:
          - id: call
            type: io.kestra.plugin.core.flow.Subflow
            namespace: tests.rules
            flowId: child
            retry: {type: constant, interval: PT1S, maxAttempt: 3}
        """))
    d.create()
    children = []
    for attempt in (1, 2, 3):
        (child_id,) = d.subflows
        children.append(child_id)
        d.subflow_ended(child_id, FAILED)
        if attempt < 3:
            assert d.taskrun("call").current == StateType.RETRYING
            d.fire(f"retry:{d.taskrun('call').id}:{attempt + 1}")
    assert len(set(children)) == 3
    assert attempts(d, "call") == 3
    assert d.execution.state.current == FAILED
