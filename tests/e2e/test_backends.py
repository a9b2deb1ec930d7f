"""Engine behaviour end to end, alike on both backends: every test runs on the embedded engine and on Kafka.

Each test drives a ``Backend`` (fixture ``backend``, tests/e2e/conftest.py) through its public API
only, and bounds real time with ``wait(..., timeout=...)`` or a polling deadline, so a regression
shows as a failure, not a hang. Flows live in ``tests/e2e/flows``; anything a test varies (a file
path) goes in through inputs. On Kafka one stack serves every test, so each test waits for the
executions it starts. What only the embedded backend has (its SQLite file, restarting the engine
on the same home) is tested in test_embedded_engine.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest

from kestra_stream.backend import Backend
from kestra_stream.errors import InputError
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution, TaskRun
from kestra_stream.models.state import StateType
from tests._waiting import until

NS = "e2e.engine"
# A deadline only bounds how long a failing test takes: on a loaded 2-core CI it must not be what fails.
WAIT = 120.0


# ----- helpers ---------------------------------------------------------------------------------


def current(backend: Backend, execution_id: str) -> ExecutionState:
    state = backend.state(execution_id)
    assert state is not None, f"execution {execution_id} is unknown to the backend"
    return state


def run_of(execution: Execution, task_id: str) -> TaskRun:
    runs = execution.taskruns_of(task_id)
    assert len(runs) == 1, f"expected one task run of {task_id}, got {len(runs)}"
    return runs[0]


def task_state(backend: Backend, execution_id: str, task_id: str) -> StateType | None:
    """None until the execution exists (its creation is folded asynchronously) and the task run too."""
    state = backend.state(execution_id)
    runs = state.execution.taskruns_of(task_id) if state is not None else []
    return runs[0].current if runs else None


def execution_state(backend: Backend, execution_id: str) -> StateType | None:
    state = backend.state(execution_id)
    return state.execution.state.current if state is not None else None


def kafka_bug(request: pytest.FixtureRequest, reason: str) -> None:
    """Mark a behaviour the Kafka backend gets wrong: an expected failure there, until it is fixed."""
    if request.node.callspec.params["backend"] == "kafka":
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def visited(execution: Execution) -> list[StateType]:
    return [h.state for h in execution.state.histories]


def _process_state(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid: int) -> bool:
    """Running (a zombie left to a PID 1 that never reaps holds nothing and does not count)."""
    return _process_state(pid) not in (None, b"Z", b"X")


def group_alive(pgid: int) -> bool:
    with os.scandir("/proc") as entries:
        pids = [int(e.name) for e in entries if e.name.isdigit()]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


# ----- kill ------------------------------------------------------------------------------------


async def test_kill_of_a_running_sleep_ends_killed_at_once_and_runs_nothing_after(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "sleep_long")
    await until(lambda: task_state(backend, execution_id, "nap") == StateType.RUNNING, "nap running")

    await backend.kill(execution_id)
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.KILLED
    assert StateType.KILLING in visited(execution)
    assert run_of(execution, "nap").current == StateType.KILLED
    assert execution.taskruns_of("after") == []


@pytest.mark.parametrize("flow_id", ["shell_sleep", "python_sleep"])
async def test_kill_of_a_running_script_ends_killed_and_its_processes_are_gone(
        backend: Backend, tmp_path: Path, flow_id: str) -> None:
    pidfile = tmp_path / "script.pid"
    execution_id = await backend.create_execution(NS, flow_id, {"pidfile": str(pidfile)})
    await until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", "the script wrote its pid")
    pid = int(pidfile.read_text())
    assert alive(pid)

    await backend.kill(execution_id)
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.KILLED
    assert run_of(execution, "script").current == StateType.KILLED
    # The task runs in its own session: the whole group (the shell and its `sleep`) must go.
    await until(lambda: not alive(pid) and not group_alive(pid), f"process group {pid} gone")


async def test_kill_of_a_parent_kills_the_child_it_waits_for(backend: Backend) -> None:
    parent_id = await backend.create_execution(NS, "parent_of_slow")

    def child_id_known() -> bool:
        state = backend.state(parent_id)
        return state is not None and any(tr.outputs for tr in state.execution.taskruns_of("call"))

    await until(child_id_known, "the child execution id on the call task run")
    outputs = run_of(current(backend, parent_id).execution, "call").outputs
    assert outputs is not None
    child_id = str(outputs["executionId"])
    await until(lambda: execution_state(backend, child_id) == StateType.RUNNING, "child running")

    await backend.kill(parent_id)

    assert (await backend.wait(parent_id, timeout=WAIT)).state.current == StateType.KILLED
    assert (await backend.wait(child_id, timeout=WAIT)).state.current == StateType.KILLED


async def test_kill_during_a_retry_delay_ends_killed_without_another_attempt(
        backend: Backend, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    execution_id = await backend.create_execution(NS, "retry_delay", {"marker": str(marker)})
    await until(lambda: task_state(backend, execution_id, "check") == StateType.RETRYING, "retrying")
    marker.touch()  # a further attempt would succeed: it must not happen

    await backend.kill(execution_id)
    execution = await backend.wait(execution_id, timeout=WAIT)
    await asyncio.sleep(3.3)  # past the retry interval

    assert execution.state.current == StateType.KILLED
    check = run_of(current(backend, execution_id).execution, "check")
    assert check.current == StateType.KILLED
    assert len(check.attempts) == 1


async def test_kill_of_a_paused_execution_ends_killed(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_on_resume")
    await until(lambda: execution_state(backend, execution_id) == StateType.PAUSED, "paused")

    await backend.kill(execution_id)
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.KILLED
    assert run_of(execution, "approval").current == StateType.KILLED
    assert execution.taskruns_of("decision") == []


# ----- pause / resume --------------------------------------------------------------------------


async def test_pause_of_a_running_execution_holds_the_next_task_until_resume(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_between")
    await until(lambda: task_state(backend, execution_id, "nap") == StateType.RUNNING, "nap running")

    await backend.pause(execution_id)
    await until(lambda: execution_state(backend, execution_id) == StateType.PAUSED, "paused")
    await asyncio.sleep(3.3)  # the 3 s nap ends while paused: nothing may start after it
    paused = current(backend, execution_id).execution
    assert paused.state.current == StateType.PAUSED
    assert paused.taskruns_of("after") == []

    await backend.resume(execution_id)
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    assert visited(execution)[-3:] == [StateType.PAUSED, StateType.RUNNING, StateType.SUCCESS]
    assert run_of(execution, "after").outputs == {"value": "ran after the nap"}


async def test_pause_task_resumed_with_inputs_hands_them_to_the_next_task(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_on_resume")
    await until(lambda: execution_state(backend, execution_id) == StateType.PAUSED, "paused")
    assert task_state(backend, execution_id, "approval") == StateType.PAUSED

    await backend.resume(execution_id, {"approved": True, "reason": "looks good"})
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    assert run_of(execution, "approval").outputs == {"onResume": {"approved": True, "reason": "looks good"}}
    assert run_of(execution, "decision").outputs == {"value": "true/looks good"}


async def test_resume_applies_the_defaults_of_on_resume_inputs_not_given(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_on_resume")
    await until(lambda: execution_state(backend, execution_id) == StateType.PAUSED, "paused")

    await backend.resume(execution_id, {"reason": "defaults please"})
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    assert run_of(execution, "decision").outputs == {"value": "false/defaults please"}


async def test_resume_with_an_invalid_on_resume_input_is_rejected_and_stays_paused(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_on_resume")
    await until(lambda: execution_state(backend, execution_id) == StateType.PAUSED, "paused")

    with pytest.raises(InputError):
        await backend.resume(execution_id, {"approved": "maybe", "reason": "x"})
    await asyncio.sleep(0.2)

    assert execution_state(backend, execution_id) == StateType.PAUSED
    await backend.kill(execution_id)  # a shared backend must not keep it paused forever
    assert (await backend.wait(execution_id, timeout=WAIT)).state.current == StateType.KILLED


async def test_pause_task_with_a_delay_resumes_by_itself(backend: Backend) -> None:
    started = time.monotonic()
    execution_id = await backend.create_execution(NS, "pause_delay")

    execution = await backend.wait(execution_id, timeout=WAIT)

    assert time.monotonic() - started >= 0.5
    assert execution.state.current == StateType.SUCCESS
    assert StateType.PAUSED in visited(execution)
    assert StateType.PAUSED in [h.state for h in run_of(execution, "hold").state.histories]
    assert run_of(execution, "after").current == StateType.SUCCESS


async def test_pause_duration_with_warn_behavior_goes_on_in_warning(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_warn")
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert run_of(execution, "hold").current == StateType.WARNING
    assert run_of(execution, "after").current == StateType.SUCCESS
    assert execution.state.current == StateType.WARNING


async def test_pause_not_resumed_within_its_timeout_fails(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "pause_timeout")
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.FAILED
    assert run_of(execution, "hold").current == StateType.FAILED


# ----- restart / replay ------------------------------------------------------------------------


async def test_restart_of_a_failed_execution_reruns_the_failed_task_as_a_second_attempt(
        backend: Backend, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    execution_id = await backend.create_execution(NS, "needs_file", {"marker": str(marker)})
    failed = await backend.wait(execution_id, timeout=WAIT)
    assert failed.state.current == StateType.FAILED
    first_output = run_of(failed, "first").outputs

    marker.touch()
    await backend.restart(execution_id)
    await until(lambda: StateType.RESTARTED in visited(current(backend, execution_id).execution), "restarted")
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    check = run_of(execution, "check")
    assert [a.state.current for a in check.attempts] == [StateType.FAILED, StateType.SUCCESS]
    # What had succeeded is kept, not run again.
    assert len(run_of(execution, "first").attempts) == 1
    assert run_of(execution, "first").outputs == first_output
    assert run_of(execution, "last").current == StateType.SUCCESS


async def test_wait_right_after_restart_waits_for_the_outcome_of_the_restarted_run(
        backend: Backend, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    marker = tmp_path / "marker"
    execution_id = await backend.create_execution(NS, "needs_file", {"marker": str(marker)})
    assert (await backend.wait(execution_id, timeout=WAIT)).state.current == StateType.FAILED
    marker.touch()

    await backend.restart(execution_id)
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS


async def test_restart_of_a_parent_restarts_its_failed_child_execution_by_default(
        backend: Backend, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    parent_id = await backend.create_execution(NS, "parent_of_needs_file", {"marker": str(marker)})
    failed = await backend.wait(parent_id, timeout=WAIT)
    assert failed.state.current == StateType.FAILED
    first_call = run_of(failed, "call")
    assert first_call.outputs is not None
    child_id = str(first_call.outputs["executionId"])
    marker.touch()

    await backend.restart(parent_id)
    await until(lambda: StateType.RESTARTED in visited(current(backend, parent_id).execution), "restarted")
    parent = await backend.wait(parent_id, timeout=WAIT)

    assert parent.state.current == StateType.SUCCESS
    assert run_of(parent, "call").outputs == {"executionId": child_id, "state": "SUCCESS", "outputs": {}}
    child = await backend.wait(child_id, timeout=WAIT)
    assert child.state.current == StateType.SUCCESS
    assert StateType.RESTARTED in visited(child)


async def test_replay_from_a_task_run_creates_a_new_execution_keeping_what_ran_before(backend: Backend) -> None:
    original_id = await backend.create_execution(NS, "replay_chain")
    original = await backend.wait(original_id, timeout=WAIT)
    assert original.state.current == StateType.SUCCESS

    replay_id = await backend.replay(original_id, run_of(original, "two").id)
    replayed = await backend.wait(replay_id, timeout=WAIT)

    assert replay_id != original_id
    assert replayed.state.current == StateType.SUCCESS
    assert replayed.original_id == original_id
    assert run_of(replayed, "one").outputs == {"value": original_id}  # kept from the original
    assert run_of(replayed, "two").outputs == {"value": replay_id}  # ran again, in the new execution
    assert run_of(replayed, "three").outputs == {"value": f"{original_id}|{replay_id}|{original_id}"}
    # The original is left as it was.
    assert (await backend.wait(original_id, timeout=WAIT)).task_run_list == original.task_run_list


# ----- subflows --------------------------------------------------------------------------------


async def test_subflow_with_wait_hands_the_child_outputs_to_the_parent(backend: Backend) -> None:
    parent_id = await backend.create_execution(NS, "parent_waits")
    parent = await backend.wait(parent_id, timeout=WAIT)

    assert parent.state.current == StateType.SUCCESS
    call = run_of(parent, "call")
    assert call.current == StateType.SUCCESS
    child = await backend.wait(str(call.outputs["executionId"] if call.outputs else ""), timeout=WAIT)
    assert child.state.current == StateType.SUCCESS
    assert child.parent is not None and child.parent.execution_id == parent_id
    assert run_of(parent, "use").outputs == {"value": "42"}


async def test_subflow_with_transmit_failed_fails_the_parent_task_when_the_child_fails(backend: Backend) -> None:
    parent_id = await backend.create_execution(NS, "parent_of_failing")
    parent = await backend.wait(parent_id, timeout=WAIT)

    assert parent.state.current == StateType.FAILED
    call = run_of(parent, "call")
    assert call.current == StateType.FAILED
    assert call.outputs is not None
    child = await backend.wait(str(call.outputs["executionId"]), timeout=WAIT)
    assert child.state.current == StateType.FAILED
    assert parent.taskruns_of("after") == []


async def test_subflow_of_a_missing_flow_fails_the_task_with_a_log_naming_the_flow(backend: Backend) -> None:
    parent_id = await backend.create_execution(NS, "parent_of_missing")
    parent = await backend.wait(parent_id, timeout=WAIT)

    assert parent.state.current == StateType.FAILED
    call = run_of(parent, "call")
    assert call.current == StateType.FAILED
    errors = [e.message for e in backend.logs(parent_id) if e.taskrun_id == call.id and e.level.value == "ERROR"]
    assert any("e2e.engine.no_such_flow" in m and "does not exist" in m for m in errors), errors


async def test_subflow_without_wait_ends_the_parent_while_the_child_still_runs(backend: Backend) -> None:
    parent_id = await backend.create_execution(NS, "parent_no_wait")
    parent = await backend.wait(parent_id, timeout=WAIT)

    assert parent.state.current == StateType.SUCCESS
    call = run_of(parent, "call")
    assert call.outputs is not None
    child_id = str(call.outputs["executionId"])
    await until(lambda: backend.state(child_id) is not None, "child created")
    assert not current(backend, child_id).execution.state.current.is_terminated
    child = await backend.wait(child_id, timeout=WAIT)
    assert child.state.current == StateType.SUCCESS
    assert child.state.end_date is not None and parent.state.end_date is not None
    assert child.state.end_date > parent.state.end_date


# ----- concurrency -----------------------------------------------------------------------------


async def test_concurrency_limit_with_queue_runs_executions_one_after_another_in_order(backend: Backend) -> None:
    ids = [await backend.create_execution(NS, "concurrency_queue") for _ in range(3)]
    executions = [await backend.wait(i, timeout=WAIT) for i in ids]

    assert [e.state.current for e in executions] == [StateType.SUCCESS] * 3
    assert all(StateType.QUEUED in visited(e) for e in executions[1:])
    for before, after in itertools.pairwise(executions):
        running_at = next(h.date for h in after.state.histories if h.state == StateType.RUNNING)
        assert before.state.end_date is not None and running_at >= before.state.end_date


@pytest.mark.parametrize(("flow_id", "rejected_state"),
                         [("concurrency_cancel", StateType.CANCELLED), ("concurrency_fail", StateType.FAILED)])
async def test_concurrency_limit_rejects_a_second_execution_with_its_behavior(
        backend: Backend, flow_id: str, rejected_state: StateType) -> None:
    first = await backend.create_execution(NS, flow_id)
    second = await backend.create_execution(NS, flow_id)

    rejected = await backend.wait(second, timeout=WAIT)
    assert rejected.state.current == rejected_state
    assert rejected.task_run_list == ()
    assert not current(backend, first).execution.state.current.is_terminated
    assert (await backend.wait(first, timeout=WAIT)).state.current == StateType.SUCCESS


async def test_killing_the_running_execution_of_a_queue_limited_flow_starts_the_next(backend: Backend) -> None:
    first = await backend.create_execution(NS, "concurrency_queue")
    second = await backend.create_execution(NS, "concurrency_queue")
    await until(lambda: execution_state(backend, first) == StateType.RUNNING, "first running")
    await until(lambda: execution_state(backend, second) == StateType.QUEUED, "second queued")

    await backend.kill(first)

    assert (await backend.wait(first, timeout=WAIT)).state.current == StateType.KILLED
    await until(lambda: execution_state(backend, second) == StateType.RUNNING, "second dequeued")
    assert (await backend.wait(second, timeout=WAIT)).state.current == StateType.SUCCESS


async def test_killing_a_queued_execution_ends_it_and_leaves_the_queue_going(backend: Backend) -> None:
    ids = [await backend.create_execution(NS, "concurrency_queue") for _ in range(3)]
    await until(lambda: execution_state(backend, ids[1]) == StateType.QUEUED, "second queued")

    await backend.kill(ids[1])

    assert (await backend.wait(ids[1], timeout=WAIT)).state.current == StateType.KILLED
    assert (await backend.wait(ids[0], timeout=WAIT)).state.current == StateType.SUCCESS
    third = await backend.wait(ids[2], timeout=WAIT)
    assert third.state.current == StateType.SUCCESS


# ----- labels, variables, envs, inputs ---------------------------------------------------------


async def test_labels_come_from_the_flow_the_request_and_a_labels_task(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "labels", labels={"team": "data"})
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    assert execution.labels == {"owner": "flow", "team": "data", "stage": "done",
                                "system.correlationId": execution_id}
    assert run_of(execution, "seen").outputs == {"value": "data"}


async def test_variables_are_not_rendered_again_unless_through_render(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "variables", {"name": "Ada"})
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    assert run_of(execution, "raw").outputs == {"value": "Hello {{ inputs.name }}"}
    assert run_of(execution, "rendered").outputs == {"value": "Hello Ada (43)"}


async def test_envs_are_the_env_prefixed_environment_variables(backend: Backend) -> None:
    # The backend was built with ENV_E2E_GREETING=bonjour in its environment (conftest.E2E_ENVIRON).
    execution_id = await backend.create_execution(NS, "envs")
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.SUCCESS
    assert run_of(execution, "show").outputs == {"value": "bonjour"}


@pytest.mark.parametrize("inputs", [
    {"count": "0", "code": "ABC"},  # below min
    {"count": "two", "code": "ABC"},  # not an INT
    {"count": "2", "code": "abc"},  # validator
    {"code": "ABC"},  # required and missing
])
async def test_rejected_inputs_raise_input_error_and_start_no_execution(
        backend: Backend, inputs: dict[str, str]) -> None:
    seen: list[str] = []
    backend.subscribe(lambda state: seen.append(state.execution.flow_id))

    with pytest.raises(InputError):
        await backend.create_execution(NS, "typed_inputs", inputs, from_text=True)
    await asyncio.sleep(0.3)  # time enough for a snapshot of a started execution to come back

    assert "typed_inputs" not in seen


async def test_inputs_given_as_text_are_coerced_to_their_types(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "typed_inputs", {"count": "3", "code": "ABC"},
                                                  from_text=True)
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.inputs == {"count": 3, "code": "ABC"}
    assert run_of(execution, "show").outputs == {"value": "ABCx3"}


# ----- timeouts, afterExecution ----------------------------------------------------------------


async def test_timeout_of_a_script_task_fails_it_and_ends_its_process(backend: Backend, tmp_path: Path) -> None:
    pidfile = tmp_path / "slow.pid"
    execution_id = await backend.create_execution(NS, "script_timeout", {"pidfile": str(pidfile)})

    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.FAILED
    slow = run_of(execution, "slow")
    assert [a.state.current for a in slow.attempts] == [StateType.FAILED]
    assert any("timed out" in e.message for e in backend.logs(execution_id) if e.taskrun_id == slow.id)
    pid = int(pidfile.read_text())
    await until(lambda: not group_alive(pid), f"process group {pid} gone")


async def test_timeout_of_a_sleep_fails_it(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "sleep_timeout")
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.FAILED
    assert run_of(execution, "nap").current == StateType.FAILED


async def test_after_execution_tasks_run_once_the_final_state_is_set(backend: Backend) -> None:
    execution_id = await backend.create_execution(NS, "after_execution")
    execution = await backend.wait(execution_id, timeout=WAIT)

    assert execution.state.current == StateType.FAILED
    notify = run_of(execution, "notify")
    assert notify.current == StateType.SUCCESS
    assert notify.outputs == {"value": "FAILED"}
    assert execution.state.end_date is not None
    assert notify.state.start_date >= execution.state.end_date


async def test_for_each_item_counts_its_batches_running_while_they_run(backend: Backend) -> None:
    """Kestra's ``iterations`` output is live: a batch's subflow counts RUNNING from its start to its end."""
    parent_id = await backend.create_execution(NS, "for_each_item_of_slow")

    def iterations() -> dict[str, int]:
        state = backend.state(parent_id)
        runs = state.execution.taskruns_of("each_items") if state is not None else []
        return dict((runs[0].outputs or {}).get("iterations") or {}) if runs else {}

    # Both children sleep 5 s: the parent hears of their starts long before their ends.
    await until(lambda: iterations() == {"CREATED": 0, "RUNNING": 2}, "both batches counted RUNNING",
                within=WAIT)
    execution = await backend.wait(parent_id, timeout=WAIT)
    assert execution.state.current == StateType.SUCCESS
    assert (run_of(execution, "each_items").outputs or {})["iterations"] == {"CREATED": 0, "RUNNING": 0, "SUCCESS": 2}
