"""The shapes of flowable resolution: sequence, parallel, iteration and DAG, each with errors / finally.

Pure functions of a flowable's child task runs. Kestra's rules:
- a sequence starts a task once the previous one ended well (SUCCESS, WARNING, SKIPPED);
- a failure stops the branch, then the owner's ``errors`` run, then ``finally`` always runs;
- the owner ends KILLED if a child was killed, FAILED if any child failed (even when an
  ``errors`` branch handled it), WARNING if any warned, SUCCESS otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from kestra_stream.executor.flowables import WAIT, ChildRun, Done, Later, LoopLimits, Resolution, Start
from kestra_stream.models.execution import TaskRun
from kestra_stream.models.state import StateType
from kestra_stream.models.task import Task


class _Status(Enum):
    NEXT = "next"
    RUNNING = "running"
    FAILED = "failed"
    DONE = "done"


def _failed(state: StateType) -> bool:
    return state in (StateType.FAILED, StateType.KILLED, StateType.CANCELLED)


def _enabled(tasks: Iterable[Task]) -> list[Task]:
    return [t for t in tasks if not t.disabled]


def _by_task(runs: Iterable[TaskRun]) -> dict[str, TaskRun]:
    return {tr.task_id: tr for tr in runs}


def _sequence_status(tasks: Sequence[Task], by_task: dict[str, TaskRun]) -> tuple[_Status, Task | None]:
    for task in tasks:
        tr = by_task.get(task.id)
        if tr is None:
            return _Status.NEXT, task
        if not tr.current.is_terminated:
            return _Status.RUNNING, None
        if _failed(tr.current):
            return _Status.FAILED, None
    return _Status.DONE, None


def combined_state(runs: Iterable[TaskRun]) -> StateType:
    seen = {tr.current for tr in runs}
    if StateType.KILLED in seen:
        return StateType.KILLED
    if StateType.FAILED in seen or StateType.CANCELLED in seen:
        return StateType.FAILED
    if StateType.WARNING in seen:
        return StateType.WARNING
    return StateType.SUCCESS


def _tail(failed: bool, runs: Sequence[TaskRun], errors: Sequence[Task],
          finally_: Sequence[Task]) -> Resolution:
    """After the main branch: errors when it failed, then finally, then the combined state."""
    by_task = _by_task(runs)
    if failed:
        status, task = _sequence_status(_enabled(errors), by_task)
        if status is _Status.NEXT and task is not None:
            return Start((ChildRun(task),))
        if status is _Status.RUNNING:
            return WAIT
    status, task = _sequence_status(_enabled(finally_), by_task)
    if status is _Status.NEXT and task is not None:
        return Start((ChildRun(task),))
    if status is _Status.RUNNING:
        return WAIT
    state = combined_state(runs)
    if failed and state in (StateType.SUCCESS, StateType.WARNING):
        state = StateType.FAILED
    return Done(state)


def sequence(tasks: Sequence[Task], runs: Sequence[TaskRun], errors: Sequence[Task],
             finally_: Sequence[Task]) -> Resolution:
    status, task = _sequence_status(_enabled(tasks), _by_task(runs))
    if status is _Status.NEXT and task is not None:
        return Start((ChildRun(task),))
    if status is _Status.RUNNING:
        return WAIT
    return _tail(status is _Status.FAILED, runs, errors, finally_)


def in_turn(tasks: Sequence[Task], runs: Sequence[TaskRun]) -> Resolution:
    """Each task once the one before it ended, whatever its state (Kestra's listeners); done when all ended,
    in the state of the worst."""
    by_task = _by_task(runs)
    ended: list[TaskRun] = []
    for task in _enabled(tasks):
        run = by_task.get(task.id)
        if run is None:
            return Start((ChildRun(task),))
        if not run.current.is_terminated:
            return WAIT
        ended.append(run)
    return Done(combined_state(ended))


def parallel(tasks: Sequence[Task], runs: Sequence[TaskRun], errors: Sequence[Task],
             finally_: Sequence[Task], concurrent: int) -> Resolution:
    by_task = _by_task(runs)
    enabled = _enabled(tasks)
    started = [by_task[t.id] for t in enabled if t.id in by_task]
    running = sum(1 for tr in started if not tr.current.is_terminated)
    failed = any(_failed(tr.current) for tr in started if tr.current.is_terminated)
    if not failed:
        pending = [t for t in enabled if t.id not in by_task]
        if pending:
            slots = len(pending) if concurrent <= 0 else concurrent - running
            if slots > 0:
                return Start(tuple(ChildRun(t) for t in pending[:slots]))
            return WAIT
    if running:
        return WAIT
    return _tail(failed, runs, errors, finally_)


def iteration_values(values: Any) -> list[str]:
    """Values to iterate on: a list, a JSON array as text, or a map (its keys); each as text. A null
    among them is refused."""
    if isinstance(values, str):
        text = values.strip()
        try:
            values = json.loads(text) if text else []
        except json.JSONDecodeError as exc:
            raise ValueError(f"values must be a list or a JSON array, got {values!r}") from exc
        if isinstance(values, str):
            values = [values]
    if isinstance(values, dict):
        values = list(values)
    if not isinstance(values, list | tuple):
        raise ValueError(f"values must be a list or a JSON array, got {type(values).__name__}")
    nulls = sum(1 for v in values if v is None)
    if nulls:  # as Kestra: a null has no text to be taskrun.value, so the loop fails before starting
        raise ValueError(f"Found '{nulls}' null values on Each, with values={json.dumps(list(values))}; "
                         "remove the nulls from the values (or filter them out in the expression)")
    return [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in values]


def each(values: Sequence[str], tasks: Sequence[Task], runs: Sequence[TaskRun], errors: Sequence[Task],
         finally_: Sequence[Task], concurrency: int, parallel_tasks: bool) -> Resolution:
    enabled = _enabled(tasks)
    groups: dict[int, dict[str, TaskRun]] = {}
    for tr in runs:
        if tr.iteration is not None:
            groups.setdefault(tr.iteration, {})[tr.task_id] = tr
    starts: list[ChildRun] = []
    running = 0
    failed = False
    not_started: list[int] = []
    for index, value in enumerate(values):
        group = groups.get(index)
        if group is None:
            not_started.append(index)
            continue
        if parallel_tasks:
            members = [group[t.id] for t in enabled if t.id in group]
            if any(not tr.current.is_terminated for tr in members):
                running += 1
            elif any(_failed(tr.current) for tr in members):
                failed = True
            continue
        status, task = _sequence_status(enabled, group)
        if status is _Status.NEXT and task is not None:
            starts.append(ChildRun(task, value, index))
        elif status is _Status.RUNNING:
            running += 1
        elif status is _Status.FAILED:
            failed = True
    if failed:
        # A failed iteration stops the loop: nothing new starts, running ones end on their own.
        return WAIT if running else _tail(True, runs, errors, finally_)
    active = running + len(starts)
    if enabled:
        for index in not_started:
            if 0 < concurrency <= active:
                break
            active += 1
            first = enabled if parallel_tasks else enabled[:1]
            starts.extend(ChildRun(t, values[index], index) for t in first)
    if starts:
        return Start(tuple(starts))
    if running:
        return WAIT
    return _tail(False, runs, errors, finally_)


def dag(nodes: Sequence[tuple[Task, Sequence[str]]], runs: Sequence[TaskRun], errors: Sequence[Task],
        finally_: Sequence[Task], concurrent: int) -> Resolution:
    by_task = _by_task(runs)
    enabled = [(t, deps) for t, deps in nodes if not t.disabled]
    running = sum(1 for t, _ in enabled if t.id in by_task and not by_task[t.id].current.is_terminated)
    failed = any(_failed(by_task[t.id].current) for t, _ in enabled
                 if t.id in by_task and by_task[t.id].current.is_terminated)
    if not failed:
        disabled = {t.id for t, _ in nodes if t.disabled}
        ready = [t for t, deps in enabled if t.id not in by_task and all(
            d in disabled or (d in by_task and by_task[d].current.is_success) for d in deps)]
        slots = len(ready) if concurrent <= 0 else concurrent - running
        if ready and slots > 0:
            return Start(tuple(ChildRun(t) for t in ready[:slots]))
    if running:
        return WAIT
    return _tail(failed, runs, errors, finally_)


def loop(tasks: Sequence[Task], runs: Sequence[TaskRun], errors: Sequence[Task], finally_: Sequence[Task], *,
         condition: Callable[[int], bool], limits: LoopLimits, started: datetime,
         now: datetime) -> tuple[int, Resolution]:
    """One step of a loop-until (WaitFor): the iteration count to keep, and what to do.

    Iteration ``i`` (0-based) is the child runs with ``iteration == i``. ``condition(count)`` renders the
    loop's condition once ``count`` (the number of the next iteration) is kept in the outputs.
    """
    enabled = _enabled(tasks)
    ids = {t.id for t in enabled}
    current = max((tr.iteration for tr in runs if tr.task_id in ids and tr.iteration is not None), default=None)
    if current is None:
        return 1, Start((ChildRun(enabled[0], None, 0),)) if enabled else _tail(False, runs, errors, finally_)
    group = [tr for tr in runs if tr.task_id in ids and tr.iteration == current]
    status, task = _sequence_status(enabled, _by_task(group))
    if status is _Status.NEXT and task is not None:
        return current + 1, Start((ChildRun(task, None, current),))
    if status is _Status.RUNNING:
        return current + 1, WAIT
    if status is _Status.FAILED:
        return current + 1, _tail(True, runs, errors, finally_)
    count = current + 2  # this iteration is done: the count Kestra keeps is the next one's number
    if condition(count):
        return count, _tail(False, runs, errors, finally_)
    reached = (limits.max_iterations is not None and count > limits.max_iterations) or (
        limits.max_duration is not None and started + limits.max_duration < now)
    if reached:
        if limits.fail_on_max:
            return count, Done(StateType.FAILED)
        return count, _tail(False, runs, errors, finally_)
    ended = max((h.date for tr in group for h in tr.state.histories), default=now)
    if now < ended + limits.interval:
        return count, Later(ended + limits.interval, count)
    return count, Start((ChildRun(enabled[0], None, current + 1),))
