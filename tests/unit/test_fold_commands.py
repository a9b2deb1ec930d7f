"""The executor fold driven event by event with a fixed clock: the exact commands of each step, and no others."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fold_driver import EXECUTION_ID, LOG, T0, Driver, flow, logs

from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    Command,
    EmitLog,
    ExecutionEnded,
    KillExecution,
    KillTask,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.events import Rejected, TaskResult
from kestra_stream.ids import derive_id
from kestra_stream.models.execution import ParentLink
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel

T0_TEXT = "2024-01-01T00:00:00Z"  # variables hold dates as JSON text
OK, FAILED, WARNING = StateType.SUCCESS, StateType.FAILED, StateType.WARNING


def brief(d: Driver, commands: list[Command]) -> list[tuple[Any, ...]]:
    """Commands as short tuples, task runs named by task id (and iteration): exact but readable."""
    names: dict[str, str] = {}
    if d.state is not None:
        for tr in d.execution.task_run_list:
            names[tr.id] = tr.task_id if tr.iteration is None else f"{tr.task_id}[{tr.iteration}]"
    out: list[tuple[Any, ...]] = []
    for c in commands:
        if isinstance(c, RunTask):
            out.append(("run", names.get(c.taskrun_id, c.taskrun_id), c.attempt))
        elif isinstance(c, ScheduleTimer):
            assert c.timer_id == f"{c.purpose}:{c.taskrun_id}:{c.attempt}"
            out.append(("timer", c.purpose, names.get(c.taskrun_id, c.taskrun_id), c.attempt, c.fire_at))
        elif isinstance(c, CancelTimer):
            purpose, tr_id, attempt = c.timer_id.split(":")
            out.append(("cancel", purpose, names.get(tr_id, tr_id), int(attempt)))
        elif isinstance(c, KillTask):
            out.append(("kill", names.get(c.taskrun_id, c.taskrun_id), c.attempt))
        elif isinstance(c, EmitLog):
            out.append(("log", c.level, c.message))
        elif isinstance(c, ExecutionEnded):
            assert c.execution == d.execution, "ExecutionEnded must carry the execution as folded"
            out.append(("ended", c.state))
        elif isinstance(c, StartSubflow):
            out.append(("subflow", c.namespace, c.flow_id, c.inputs))
        elif isinstance(c, AcquireSlot):
            out.append(("slot", c.limit, c.behavior))
        elif isinstance(c, KillExecution):
            out.append(("kill_execution", c.execution_id))
    return out


def states(d: Driver) -> list[StateType]:
    return [h.state for h in d.execution.state.histories]


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


# ----- dispatching in order ---------------------------------------------------------------------


def test_creation_dispatches_the_first_task_and_nothing_else() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b")))
    commands = d.create()
    a = d.taskrun("a")
    assert commands == [RunTask(
        execution_id=EXECUTION_ID, taskrun_id=a.id, attempt=1, task=d.flow.tasks[0], namespace="tests.fold",
        flow_id="f", variables={
            "flow": {"id": "f", "namespace": "tests.fold", "revision": 1},
            "execution": {"id": EXECUTION_ID, "startDate": T0_TEXT, "originalId": EXECUTION_ID, "state": "RUNNING"},
            "inputs": {}, "outputs": {}, "vars": {}, "labels": {"system": {"correlationId": EXECUTION_ID}},
                "envs": {}, "globals": {},
            "task": {"id": "a", "type": LOG},
            "taskrun": {"id": a.id, "startDate": T0_TEXT, "attemptsCount": 0, "parentId": None, "value": None,
                        "iteration": None},
        })]
    assert a.id == derive_id(EXECUTION_ID, None, "a", None)
    assert [tr.task_id for tr in d.execution.task_run_list] == ["a"]
    assert d.execution.state.current == StateType.RUNNING


def test_next_task_is_dispatched_only_after_the_previous_result() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b")))
    d.create()
    assert brief(d, d.result(d.job("a"), OK, outputs={"n": 1})) == [("run", "b", 1)]
    b_job = d.job("b")
    assert b_job.variables["outputs"] == {"a": {"n": 1}}
    assert brief(d, d.result(b_job, OK)) == [("ended", OK)]
    assert [tr.current for tr in d.execution.task_run_list] == [OK, OK]


# ----- retries --------------------------------------------------------------------------------


def test_constant_retry_schedules_each_attempt_after_the_interval_until_max_attempts() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: a
            type: {LOG}
            message: a
            retry: {{type: constant, interval: PT5S, maxAttempts: 3}}
        """))
    d.create()
    assert brief(d, d.result(d.job("a"), FAILED)) == [("timer", "retry", "a", 2, at(6))]
    assert d.taskrun("a").current == StateType.RETRYING
    assert brief(d, d.fire(f"retry:{d.taskrun('a').id}:2")) == [("run", "a", 2)]
    assert brief(d, d.result(d.job("a"), FAILED)) == [("timer", "retry", "a", 3, at(12))]
    assert brief(d, d.fire(f"retry:{d.taskrun('a').id}:3")) == [("run", "a", 3)]
    assert brief(d, d.result(d.job("a"), FAILED)) == [("ended", FAILED)]
    a = d.taskrun("a")
    assert [att.state.current for att in a.attempts] == [FAILED, FAILED, FAILED]
    assert a.current == FAILED


def test_exponential_retry_doubles_the_delay_up_to_max_interval() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: a
            type: {LOG}
            message: a
            retry: {{type: exponential, interval: PT1S, maxInterval: PT5S, maxAttempts: 5}}
        """))
    d.create()
    fire_times = []
    for attempt in range(2, 6):
        failed_at = d.now + timedelta(seconds=1)
        commands = d.result(d.job("a"), FAILED)
        assert brief(d, commands) == [("timer", "retry", "a", attempt, commands[0].fire_at)]  # type: ignore[union-attr]
        timer = commands[0]
        assert isinstance(timer, ScheduleTimer)
        fire_times.append(timer.fire_at - failed_at)
        assert brief(d, d.fire(timer.timer_id)) == [("run", "a", attempt)]
    assert fire_times == [timedelta(seconds=s) for s in (1, 2, 4, 5)]
    assert brief(d, d.result(d.job("a"), OK)) == [("ended", OK)]
    assert len(d.taskrun("a").attempts) == 5


def test_success_after_a_retry_is_a_warning_with_warning_on_retry() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: a
            type: {LOG}
            message: a
            retry: {{type: constant, interval: PT1S, maxAttempts: 2, warningOnRetry: true}}
        """))
    d.create()
    d.result(d.job("a"), FAILED)
    d.fire(f"retry:{d.taskrun('a').id}:2")
    assert brief(d, d.result(d.job("a"), OK)) == [("ended", WARNING)]


def test_a_retry_timer_fired_twice_dispatches_one_attempt() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: a
            type: {LOG}
            message: a
            retry: {{type: constant, interval: PT1S, maxAttempts: 3}}
        """))
    d.create()
    timer = d.result(d.job("a"), FAILED)[0]
    assert isinstance(timer, ScheduleTimer)
    d.fire(timer.timer_id)
    before = d.state
    d.timers[timer.timer_id] = timer
    assert d.fire(timer.timer_id) == []
    assert d.state is before


# ----- timeouts ---------------------------------------------------------------------------------


TIMEOUT_FLOW = f"""\
    tasks:
      - id: a
        type: {LOG}
        message: a
        timeout: PT10S
      - id: b
        type: {LOG}
        message: b
    """


def test_a_timeout_timer_is_scheduled_with_the_attempt() -> None:
    d = Driver(flow(TIMEOUT_FLOW))
    assert brief(d, d.create()) == [("run", "a", 1), ("timer", "timeout", "a", 1, at(10))]


def test_a_fired_timeout_kills_the_attempt_and_fails_it() -> None:
    d = Driver(flow(TIMEOUT_FLOW))
    d.create()
    assert brief(d, d.fire(f"timeout:{d.taskrun('a').id}:1")) == [
        ("log", LogLevel.ERROR, "Task 'a' timed out after PT10S"),
        ("kill", "a", 1),
        ("ended", FAILED),
    ]
    a = d.taskrun("a")
    assert [att.state.current for att in a.attempts] == [FAILED]
    assert a.current == FAILED


def test_a_result_before_the_timeout_cancels_its_timer() -> None:
    d = Driver(flow(TIMEOUT_FLOW))
    d.create()
    assert brief(d, d.result(d.job("a"), OK)) == [("cancel", "timeout", "a", 1), ("run", "b", 1)]


def test_a_late_result_for_a_timed_out_attempt_is_ignored() -> None:
    d = Driver(flow(TIMEOUT_FLOW))
    d.create()
    job = d.job("a")
    d.fire(f"timeout:{d.taskrun('a').id}:1")
    ended = d.state
    assert d.result(job, OK) == []
    assert d.state is ended


def test_a_timed_out_attempt_is_retried_when_the_task_has_a_retry() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: a
            type: {LOG}
            message: a
            timeout: PT10S
            retry: {{type: constant, interval: PT2S, maxAttempts: 2}}
        """))
    d.create()
    assert brief(d, d.fire(f"timeout:{d.taskrun('a').id}:1")) == [
        ("log", LogLevel.ERROR, "Task 'a' timed out after PT10S"),
        ("kill", "a", 1),
        ("timer", "retry", "a", 2, at(12)),
    ]
    assert brief(d, d.fire(f"retry:{d.taskrun('a').id}:2")) == [
        ("run", "a", 2), ("timer", "timeout", "a", 2, at(22))]


# ----- redelivery -------------------------------------------------------------------------------


def test_the_same_task_result_twice_changes_nothing_the_second_time() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b")))
    d.create()
    d.result(d.job("a"), OK)
    event = d.log[-1]
    assert isinstance(event, TaskResult)
    before = d.state
    assert d.send(event) == []
    assert d.state is before


def test_a_result_for_an_attempt_that_does_not_exist_changes_nothing() -> None:
    d = Driver(flow("tasks:\n" + logs("a")))
    d.create()
    job = d.job("a")
    before = d.state
    wrong = job.model_copy(update={"attempt": 2})
    assert d.result(wrong, OK) == []
    assert d.state is before


def test_a_second_creation_event_changes_nothing() -> None:
    d = Driver(flow("tasks:\n" + logs("a")))
    d.create()
    before = d.state
    assert d.send(d.log[0]) == []
    assert d.state is before


# ----- errors, finally, allowFailure ----------------------------------------------------------


def test_a_failure_runs_errors_then_finally_and_the_execution_fails() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b") + "errors:\n" + logs("on_error") + "finally:\n" + logs("last")))
    d.create()
    assert brief(d, d.result(d.job("a"), FAILED)) == [("run", "on_error", 1)]
    assert brief(d, d.result(d.job("on_error"), OK)) == [("run", "last", 1)]
    assert brief(d, d.result(d.job("last"), OK)) == [("ended", FAILED)]
    assert [tr.task_id for tr in d.execution.task_run_list] == ["a", "on_error", "last"]


def test_finally_runs_after_success_without_errors() -> None:
    d = Driver(flow("tasks:\n" + logs("a") + "errors:\n" + logs("on_error") + "finally:\n" + logs("last")))
    d.create()
    assert brief(d, d.result(d.job("a"), OK)) == [("run", "last", 1)]
    assert brief(d, d.result(d.job("last"), OK)) == [("ended", OK)]


def test_a_flowable_runs_its_own_errors_before_the_flow_goes_on() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: a
                type: {LOG}
                message: a
            errors:
              - id: fix
                type: {LOG}
                message: fix
          - id: next
            type: {LOG}
            message: next
        """))
    assert brief(d, d.create()) == [("run", "a", 1)]
    assert brief(d, d.result(d.job("a"), FAILED)) == [("run", "fix", 1)]
    assert brief(d, d.result(d.job("fix"), OK)) == [("ended", FAILED)]
    assert d.taskrun("seq").current == FAILED
    assert "next" not in [tr.task_id for tr in d.execution.task_run_list]


def test_allow_failure_turns_a_failed_task_into_warning_and_the_flow_goes_on() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: a
            type: {LOG}
            message: a
            allowFailure: true
          - id: b
            type: {LOG}
            message: b
        """))
    d.create()
    assert brief(d, d.result(d.job("a"), FAILED)) == [("run", "b", 1)]
    assert d.taskrun("a").current == WARNING
    assert brief(d, d.result(d.job("b"), OK)) == [("ended", WARNING)]


# ----- flowables ------------------------------------------------------------------------------


def test_parallel_concurrent_two_starts_two_and_the_third_when_one_ends() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: par
            type: io.kestra.plugin.core.flow.Parallel
            concurrent: 2
            tasks:
              - id: a
                type: {LOG}
                message: a
              - id: b
                type: {LOG}
                message: b
              - id: c
                type: {LOG}
                message: c
        """))
    assert brief(d, d.create()) == [("run", "a", 1), ("run", "b", 1)]
    assert brief(d, d.result(d.job("b"), OK)) == [("run", "c", 1)]
    assert brief(d, d.result(d.job("a"), OK)) == []
    assert brief(d, d.result(d.job("c"), OK)) == [("ended", OK)]


def test_parallel_starts_nothing_new_after_a_failure_and_waits_for_the_running_ones() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: par
            type: io.kestra.plugin.core.flow.Parallel
            concurrent: 2
            tasks:
              - id: a
                type: {LOG}
                message: a
              - id: b
                type: {LOG}
                message: b
              - id: c
                type: {LOG}
                message: c
        """))
    d.create()
    assert brief(d, d.result(d.job("a"), FAILED)) == []
    assert brief(d, d.result(d.job("b"), OK)) == [("ended", FAILED)]
    assert "c" not in [tr.task_id for tr in d.execution.task_run_list]


FOR_EACH = """\
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["x", "y", "z"]
    concurrencyLimit: LIMIT
    tasks:
""" + logs("item", indent=6)


def test_for_each_with_concurrency_limit_one_runs_values_one_after_another() -> None:
    d = Driver(flow(FOR_EACH.replace("LIMIT", "1")))
    assert brief(d, d.create()) == [("run", "item[0]", 1)]
    assert d.job("item").variables["taskrun"]["value"] == "x"
    assert brief(d, d.result(d.job("item"), OK)) == [("run", "item[1]", 1)]
    assert brief(d, d.result(d.job("item"), OK)) == [("run", "item[2]", 1)]
    assert d.job("item").variables["taskrun"]["value"] == "z"
    assert brief(d, d.result(d.job("item"), OK)) == [("ended", OK)]


def test_for_each_with_concurrency_limit_zero_runs_every_value_at_once() -> None:
    d = Driver(flow(FOR_EACH.replace("LIMIT", "0")))
    assert brief(d, d.create()) == [("run", "item[0]", 1), ("run", "item[1]", 1), ("run", "item[2]", 1)]
    assert [j.variables["taskrun"]["value"] for j in d.jobs.values()] == ["x", "y", "z"]
    jobs = list(d.jobs.values())
    assert brief(d, d.result(jobs[2], OK)) == []
    assert brief(d, d.result(jobs[0], OK)) == []
    assert brief(d, d.result(jobs[1], OK)) == [("ended", OK)]


IF_FLOW = """\
tasks:
  - id: branch
    type: io.kestra.plugin.core.flow.If
    condition: "CONDITION"
    then:
""" + logs("yes", indent=6) + "    else:\n" + logs("no", indent=6)


@pytest.mark.parametrize(("condition", "chosen", "result"), [
    ("{{ 1 == 1 }}", "yes", True), ("{{ 1 == 2 }}", "no", False), ("false", "no", False)])
def test_if_runs_the_branch_its_condition_chooses(condition: str, chosen: str, result: bool) -> None:
    d = Driver(flow(IF_FLOW.replace("CONDITION", condition)))
    assert brief(d, d.create()) == [("run", chosen, 1)]
    assert brief(d, d.result(d.job(chosen), OK)) == [("ended", OK)]
    assert d.taskrun("branch").outputs == {"evaluationResult": result}


SWITCH_FLOW = """\
tasks:
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "VALUE"
    cases:
      A:
""" + logs("on_a", indent=8) + "      B:\n" + logs("on_b", indent=8) + "    defaults:\n" + logs("other", indent=6)


@pytest.mark.parametrize(("value", "chosen", "defaults"), [("A", "on_a", False), ("B", "on_b", False),
                                                           ("{{ 'Z' }}", "other", True)])
def test_switch_runs_the_matching_case_or_the_defaults(value: str, chosen: str, defaults: bool) -> None:
    d = Driver(flow(SWITCH_FLOW.replace("VALUE", value)))
    assert brief(d, d.create()) == [("run", chosen, 1)]
    assert brief(d, d.result(d.job(chosen), OK)) == [("ended", OK)]
    assert d.taskrun("route").outputs == {"value": value.strip("{} '"), "defaults": defaults}


def test_sleep_schedules_a_timer_and_succeeds_when_it_fires() -> None:
    d = Driver(flow("""\
        tasks:
          - id: nap
            type: io.kestra.plugin.core.flow.Sleep
            duration: PT1M
        """))
    assert brief(d, d.create()) == [("timer", "sleep", "nap", 1, at(60))]
    assert brief(d, d.fire(f"sleep:{d.taskrun('nap').id}:1")) == [("ended", OK)]


# ----- pause and resume ----------------------------------------------------------------------


PAUSE_FLOW = f"""\
    tasks:
      - id: approve
        type: io.kestra.plugin.core.flow.Pause
        onResume:
          - id: ok
            type: BOOLEAN
      - id: after
        type: {LOG}
        message: after
    """


def test_a_pause_task_pauses_the_execution_and_starts_nothing() -> None:
    d = Driver(flow(PAUSE_FLOW))
    assert d.create() == []
    assert d.execution.state.current == StateType.PAUSED
    assert d.taskrun("approve").current == StateType.PAUSED


def test_resume_continues_with_the_on_resume_inputs_as_outputs() -> None:
    d = Driver(flow(PAUSE_FLOW))
    d.create()
    assert brief(d, d.resume({"ok": True})) == [("run", "after", 1)]
    assert d.execution.state.current == StateType.RUNNING
    approve = d.taskrun("approve")
    assert approve.current == OK
    assert approve.outputs == {"onResume": {"ok": True}}
    assert d.job("after").variables["outputs"] == {"approve": {"onResume": {"ok": True}}}


def test_a_pause_duration_ends_the_pause_by_itself() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: wait
            type: io.kestra.plugin.core.flow.Pause
            pauseDuration: PT5M
          - id: after
            type: {LOG}
            message: after
        """))
    assert brief(d, d.create()) == [("timer", "pause_duration", "wait", 0, at(300))]
    assert brief(d, d.fire(f"pause_duration:{d.taskrun('wait').id}:0")) == [("run", "after", 1)]
    assert d.execution.state.current == StateType.RUNNING


def test_a_result_while_paused_starts_nothing_until_resumed() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b")))
    d.create()
    assert d.pause() == []
    assert d.execution.state.current == StateType.PAUSED
    assert d.result(d.job("a"), OK) == []
    assert d.taskrun("a").current == OK
    assert brief(d, d.resume()) == [("run", "b", 1)]


# ----- kill -----------------------------------------------------------------------------------


def test_kill_kills_every_running_attempt_and_ends_the_execution_killed() -> None:
    d = Driver(flow(f"""\
        tasks:
          - id: par
            type: io.kestra.plugin.core.flow.Parallel
            tasks:
              - id: a
                type: {LOG}
                message: a
              - id: b
                type: {LOG}
                message: b
              - id: nap
                type: io.kestra.plugin.core.flow.Sleep
                duration: PT1H
        """))
    d.create()
    assert brief(d, d.kill()) == [("kill", "a", 1), ("kill", "b", 1), ("ended", StateType.KILLED)]
    assert {tr.task_id: tr.current for tr in d.execution.task_run_list} == {
        "par": StateType.KILLED, "a": StateType.KILLED, "b": StateType.KILLED, "nap": StateType.KILLED}
    assert d.execution.state.current == StateType.KILLED
    killed = d.state
    assert d.kill() == []
    assert d.fire(f"sleep:{d.taskrun('nap').id}:1") == []
    assert d.state is killed


def test_kill_of_a_waiting_subflow_kills_the_child_execution() -> None:
    d = Driver(flow("""\
        tasks:
          - id: call
            type: io.kestra.plugin.core.flow.Subflow
            namespace: tests.fold
            flowId: child
        """))
    d.create()
    child = next(iter(d.subflows))
    assert brief(d, d.kill()) == [("kill_execution", child), ("ended", StateType.KILLED)]


# ----- restart and replay ---------------------------------------------------------------------


def test_restart_dispatches_only_the_failed_task_again_with_a_new_attempt() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b", "c")))
    d.create()
    d.result(d.job("a"), OK)
    assert brief(d, d.result(d.job("b"), FAILED)) == [("ended", FAILED)]
    b_id = d.taskrun("b").id
    assert brief(d, d.restart()) == [("run", "b", 2)]
    assert d.job("b").taskrun_id == b_id
    assert d.execution.state.current == StateType.RUNNING
    assert StateType.RESTARTED in [h.state for h in d.execution.state.histories]
    assert d.taskrun("a").current == OK
    assert len(d.taskrun("a").attempts) == 1
    assert brief(d, d.result(d.job("b"), OK)) == [("run", "c", 1)]
    assert brief(d, d.result(d.job("c"), OK)) == [("ended", OK)]
    assert [att.state.current for att in d.taskrun("b").attempts] == [FAILED, OK]


def test_restart_of_a_successful_execution_changes_nothing() -> None:
    d = Driver(flow("tasks:\n" + logs("a")))
    d.create()
    d.result(d.job("a"), OK)
    ended = d.state
    assert d.restart() == []
    assert d.state is ended


def test_restart_runs_the_errors_branch_again_after_a_new_failure() -> None:
    d = Driver(flow("tasks:\n" + logs("a") + "errors:\n" + logs("on_error")))
    d.create()
    d.result(d.job("a"), FAILED)
    d.result(d.job("on_error"), OK)
    assert brief(d, d.restart()) == [("run", "a", 2)]
    assert [tr.task_id for tr in d.execution.task_run_list] == ["a"]
    assert brief(d, d.result(d.job("a"), FAILED)) == [("run", "on_error", 1)]


def test_replay_from_a_task_run_keeps_the_earlier_ones_and_runs_again_from_there() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b", "c")))
    d.create()
    d.result(d.job("a"), OK, outputs={"n": 1})
    d.result(d.job("b"), OK)
    d.result(d.job("c"), OK)
    source = d.execution
    commands = d.replay(source, source.taskruns_of("b")[0].id, execution_id="exec-2")
    assert brief(d, commands) == [("run", "b", 1)]
    replayed = d.execution
    assert replayed.id == "exec-2"
    assert replayed.original_id == EXECUTION_ID
    assert [tr.task_id for tr in replayed.task_run_list] == ["a", "b"]
    a = d.taskrun("a")
    assert a.id == derive_id("exec-2", None, "a", None)
    assert (a.current, a.outputs, a.attempts) == (OK, {"n": 1}, source.taskruns_of("a")[0].attempts)
    assert d.job("b").variables["outputs"] == {"a": {"n": 1}}
    assert brief(d, d.result(d.job("b"), OK)) == [("run", "c", 1)]
    assert brief(d, d.result(d.job("c"), OK)) == [("ended", OK)]


# ----- subflows and concurrency ---------------------------------------------------------------


SUBFLOW_FLOW = """\
    tasks:
      - id: call
        type: io.kestra.plugin.core.flow.Subflow
        namespace: tests.fold
        flowId: child
        inputs:
          n: 21
    """


def test_a_subflow_task_starts_the_child_and_ends_with_its_outputs() -> None:
    d = Driver(flow(SUBFLOW_FLOW))
    commands = d.create()
    call = d.taskrun("call")
    child_id = derive_id(EXECUTION_ID, call.id, 1)
    assert commands == [StartSubflow(
        execution_id=EXECUTION_ID, child_execution_id=child_id, namespace="tests.fold", flow_id="child",
        inputs={"n": 21}, labels={"system.correlationId": EXECUTION_ID},
        parent=ParentLink(execution_id=EXECUTION_ID, taskrun_id=call.id, namespace="tests.fold", flow_id="f"))]
    assert brief(d, d.subflow_ended(child_id, OK, outputs={"x": 1})) == [("ended", OK)]
    assert d.taskrun("call").outputs == {"executionId": child_id, "state": "SUCCESS", "outputs": {"x": 1}}


def test_a_failed_child_fails_the_subflow_task() -> None:
    d = Driver(flow(SUBFLOW_FLOW))
    d.create()
    assert brief(d, d.subflow_ended(next(iter(d.subflows)), FAILED)) == [("ended", FAILED)]
    assert d.taskrun("call").current == FAILED


def test_a_concurrency_limit_queues_the_execution_until_dequeued() -> None:
    d = Driver(flow("concurrency:\n  limit: 1\ntasks:\n" + logs("a")))
    assert brief(d, d.create()) == [("slot", 1, "QUEUE")]
    assert states(d) == [StateType.CREATED, StateType.QUEUED]
    assert d.execution.task_run_list == ()
    assert brief(d, d.dequeue()) == [("run", "a", 1)]
    assert states(d) == [StateType.CREATED, StateType.QUEUED, StateType.RUNNING]
    assert brief(d, d.dequeue()) == []


def test_a_rejected_execution_ends_cancelled_without_running_anything() -> None:
    d = Driver(flow("concurrency:\n  limit: 1\n  behavior: CANCEL\ntasks:\n" + logs("a")))
    d.create()
    commands = d.send(Rejected(event_id="r", execution_id=EXECUTION_ID, at=T0, state=StateType.CANCELLED))
    assert brief(d, commands) == [("ended", StateType.CANCELLED)]
    assert d.execution.task_run_list == ()
