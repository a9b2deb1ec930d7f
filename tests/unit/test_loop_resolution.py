"""The loop-until shape (WaitFor) as a pure function of its children, its limits and the event's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import kestra_stream_plugin_core as core
import pytest

from kestra_stream.executor import _resolution
from kestra_stream.executor.flowables import WAIT, Done, Later, LoopLimits, Start
from kestra_stream.models.execution import TaskRun
from kestra_stream.models.state import State, StateType

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TASK = core.Log.model_validate({"type": "log.Log", "id": "step", "message": "m"})
LIMITS = LoopLimits(max_iterations=3, max_duration=timedelta(minutes=1), interval=timedelta(seconds=2),
                    fail_on_max=True)


def _run(iteration: int, state: StateType, ended: datetime) -> TaskRun:
    history = State.new(StateType.RUNNING, ended - timedelta(seconds=1)).with_state(state, ended)
    return TaskRun(id=f"r{iteration}", execution_id="e", namespace="n", flow_id="f", task_id="step",
                   parent_task_run_id="p", iteration=iteration, state=history)


def _step(runs: list[TaskRun], now: datetime, holds: bool = False,
          limits: LoopLimits = LIMITS) -> tuple[int, object]:
    return _resolution.loop([TASK], runs, [], [], condition=lambda _count: holds, limits=limits,
                            started=T0, now=now)


def test_the_first_iteration_starts_at_once_with_count_one() -> None:
    count, resolution = _step([], T0)
    assert count == 1
    assert isinstance(resolution, Start) and resolution.children[0].iteration == 0


def test_a_running_iteration_waits() -> None:
    running = TaskRun(id="r0", execution_id="e", namespace="n", flow_id="f", task_id="step",
                      parent_task_run_id="p", iteration=0, state=State.new(StateType.RUNNING, T0))
    assert _step([running], T0) == (1, WAIT)


def test_the_next_iteration_waits_for_the_interval_after_the_last_one_ended() -> None:
    ended = T0 + timedelta(seconds=5)
    count, resolution = _step([_run(0, StateType.SUCCESS, ended)], ended + timedelta(seconds=1))
    assert count == 2
    assert resolution == Later(ended + timedelta(seconds=2), 2)
    count, resolution = _step([_run(0, StateType.SUCCESS, ended)], ended + timedelta(seconds=2))
    assert isinstance(resolution, Start) and resolution.children[0].iteration == 1


def test_a_true_condition_ends_the_loop_in_the_childrens_state() -> None:
    assert _step([_run(0, StateType.SUCCESS, T0)], T0, holds=True) == (2, Done(StateType.SUCCESS))


def test_max_iterations_fails_only_with_fail_on_max() -> None:
    runs = [_run(i, StateType.SUCCESS, T0) for i in range(3)]
    assert _step(runs, T0) == (4, Done(StateType.FAILED))
    lenient = LoopLimits(3, None, timedelta(seconds=1), fail_on_max=False)
    assert _step(runs, T0, limits=lenient) == (4, Done(StateType.SUCCESS))


def test_max_duration_is_measured_against_the_events_time() -> None:
    runs = [_run(0, StateType.SUCCESS, T0)]
    assert isinstance(_step(runs, T0 + timedelta(seconds=59))[1], Start)
    assert _step(runs, T0 + timedelta(seconds=61)) == (2, Done(StateType.FAILED))


def test_a_failed_child_ends_the_loop_failed() -> None:
    assert _step([_run(0, StateType.FAILED, T0)], T0) == (1, Done(StateType.FAILED))


@pytest.mark.parametrize("values", ['[1, null, {"key": "k"}]', [1, None]])
def test_values_holding_a_null_are_refused_as_kestra_does(values: object) -> None:
    with pytest.raises(ValueError, match="Found '1' null values on Each"):
        _resolution.iteration_values(values)


def test_values_are_kept_as_text_in_order() -> None:
    assert _resolution.iteration_values('[1, "a", {"key": "k"}]') == ["1", "a", '{"key":"k"}']
