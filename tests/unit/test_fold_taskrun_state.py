"""A task run's state changed by hand (Kestra's "change status"), driven through the fold event by event: the
exact commands of the change, what the execution does after it, and the requests it ignores."""

from __future__ import annotations

from typing import Any

import pytest
from fold_driver import Driver, flow, logs

from kestra_stream.errors import ExecutionStateError, InputError
from kestra_stream.executor.commands import Command, EmitLog, ExecutionEnded, RunTask
from kestra_stream.executor.requests import check_taskrun_state
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel

OK, FAILED, WARNING, RESTARTED = StateType.SUCCESS, StateType.FAILED, StateType.WARNING, StateType.RESTARTED


def brief(d: Driver, commands: list[Command]) -> list[tuple[Any, ...]]:
    names = {tr.id: tr.task_id for tr in d.execution.task_run_list}
    out: list[tuple[Any, ...]] = []
    for c in commands:
        if isinstance(c, RunTask):
            out.append(("run", names[c.taskrun_id], c.attempt))
        elif isinstance(c, EmitLog):
            out.append(("log", c.level, c.message))
        elif isinstance(c, ExecutionEnded):
            out.append(("ended", c.state))
        else:
            out.append((c.kind,))
    return out


def failed_at_b(body: str = "tasks:\n" + logs("a", "b", "c")) -> Driver:
    d = Driver(flow(body))
    d.create()
    d.result(d.job("a"), OK)
    d.result(d.job("b"), FAILED)
    return d


def test_a_failed_task_run_set_to_success_lets_the_execution_run_on_from_there() -> None:
    d = failed_at_b()
    assert d.execution.state.current == FAILED
    a, b = d.taskrun("a"), d.taskrun("b")

    commands = d.set_taskrun_state(b.id, OK)

    assert brief(d, commands) == [("log", LogLevel.INFO, "Task run 'b' set from FAILED to SUCCESS by request"),
                                  ("run", "c", 1)]
    assert commands[0] == EmitLog(execution_id=d.execution_id, taskrun_id=b.id, task_id="b", level=LogLevel.INFO,
                                  message="Task run 'b' set from FAILED to SUCCESS by request", at=d.now)
    assert [h.state for h in d.execution.state.histories][-3:] == [FAILED, RESTARTED, StateType.RUNNING]
    changed = d.taskrun("b")
    assert [h.state for h in changed.state.histories][-2:] == [FAILED, OK]
    assert [attempt.state.current for attempt in changed.attempts] == [OK]  # its last attempt follows
    assert d.taskrun("a") == a  # what ran before it is kept as it was
    assert brief(d, d.result(d.job("c"), OK)) == [("ended", OK)]


def test_a_successful_task_run_set_to_failed_runs_the_errors_branch_and_the_execution_fails() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b") + "errors:\n" + logs("on_error")))
    d.create()
    d.result(d.job("a"), OK)
    d.result(d.job("b"), OK)
    assert d.execution.state.current == OK

    assert brief(d, d.set_taskrun_state(d.taskrun("a").id, FAILED))[1:] == [("run", "on_error", 1)]
    assert brief(d, d.result(d.job("on_error"), OK)) == [("ended", FAILED)]
    assert [tr.task_id for tr in d.execution.task_run_list] == ["a", "b", "on_error"]


def test_the_errors_and_finally_runs_of_the_changed_outcome_are_dropped_and_finally_runs_again() -> None:
    d = failed_at_b("tasks:\n" + logs("a", "b", "c") + "errors:\n" + logs("on_error") + "finally:\n" + logs("last"))
    d.result(d.job("on_error"), OK)
    d.result(d.job("last"), OK)
    assert d.execution.state.current == FAILED

    assert brief(d, d.set_taskrun_state(d.taskrun("b").id, WARNING))[1:] == [("run", "c", 1)]
    assert [tr.task_id for tr in d.execution.task_run_list] == ["a", "b", "c"]
    assert brief(d, d.result(d.job("c"), OK)) == [("run", "last", 1)]
    assert brief(d, d.result(d.job("last"), OK)) == [("ended", WARNING)]


PARALLEL = """\
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
""" + logs("left", "right", indent=6) + logs("after")


def test_a_task_run_inside_a_flowable_reopens_its_parents_which_end_again() -> None:
    d = Driver(flow(PARALLEL))
    d.create()
    d.result(d.job("left"), FAILED)
    d.result(d.job("right"), OK)
    assert (d.taskrun("both").current, d.execution.state.current) == (FAILED, FAILED)

    commands = d.set_taskrun_state(d.taskrun("left").id, OK)

    assert brief(d, commands)[1:] == [("run", "after", 1)]
    assert [h.state for h in d.taskrun("both").state.histories][-3:] == [FAILED, StateType.RUNNING, OK]
    assert brief(d, d.result(d.job("after"), OK)) == [("ended", OK)]


def test_the_execution_stays_failed_when_another_task_run_of_the_flowable_still_failed() -> None:
    d = Driver(flow(PARALLEL))
    d.create()
    d.result(d.job("left"), FAILED)
    d.result(d.job("right"), FAILED)

    assert brief(d, d.set_taskrun_state(d.taskrun("left").id, OK))[1:] == [("ended", FAILED)]
    assert d.taskrun("both").current == FAILED
    assert d.execution.state.current == FAILED


@pytest.mark.parametrize("why", ["running", "unknown task run", "same state", "state not allowed"])
def test_a_change_that_cannot_apply_changes_nothing(why: str) -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b")))
    d.create()
    if why == "running":
        target, state = d.taskrun("a").id, OK
    else:
        d.result(d.job("a"), FAILED)
        target, state = d.taskrun("a").id, {"unknown task run": OK, "same state": FAILED,
                                             "state not allowed": StateType.RUNNING}[why]
        if why == "unknown task run":
            target = "no-such-task-run"
    before = d.state

    assert d.set_taskrun_state(target, state) == []
    assert d.state is before


def test_a_redelivered_change_applies_once() -> None:
    d = failed_at_b()
    b = d.taskrun("b").id
    d.set_taskrun_state(b, OK)
    d.result(d.job("c"), OK)
    ended = d.state

    assert d.set_taskrun_state(b, OK) == []
    assert d.state is ended


# ----- the check made before the event is sent --------------------------------------------------


def test_the_check_refuses_a_running_execution_an_unknown_task_run_a_state_not_allowed_and_no_change() -> None:
    d = Driver(flow("tasks:\n" + logs("a", "b")))
    d.create()
    a = d.taskrun("a").id
    with pytest.raises(ExecutionStateError, match="still RUNNING: a task run's state can be changed once"):
        check_taskrun_state(d.execution, a, OK)
    d.result(d.job("a"), FAILED)

    with pytest.raises(InputError, match="cannot be set to RUNNING: choose one of SUCCESS, FAILED, WARNING") as bad:
        check_taskrun_state(d.execution, a, StateType.RUNNING)
    assert bad.value.input_id == "state"
    with pytest.raises(InputError, match="has no task run 'nope'") as unknown:
        check_taskrun_state(d.execution, "nope", OK)
    assert unknown.value.input_id == "taskRunId"
    with pytest.raises(ExecutionStateError, match=r"\(a\) is already FAILED: choose another"):
        check_taskrun_state(d.execution, a, FAILED)
    check_taskrun_state(d.execution, a, WARNING)


def test_the_check_tells_to_resume_a_paused_execution_first() -> None:
    d = Driver(flow("tasks:\n  - id: gate\n    type: io.kestra.plugin.core.flow.Pause\n" + logs("after")))
    d.create()
    assert d.execution.state.current == StateType.PAUSED
    with pytest.raises(ExecutionStateError, match=r"still PAUSED: .* once the execution has ended \(resume it, or "):
        check_taskrun_state(d.execution, d.taskrun("gate").id, OK)
