"""How flowable tasks are resolved: the vocabulary between a flowable plugin and the executor.

A flowable's ``resolve(ctx)`` looks at its own task run through ``ctx`` and answers with a
``Resolution``: children to start, nothing to do yet, or the state it ended in. The shapes
every core flowable needs (a sequence with errors / finally, a bounded parallel, an
iteration over values, a DAG) are offered by the context, so a plugin's ``resolve`` is a
line or two and the semantics live in one place, the executor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from kestra_stream.models.state import StateType
from kestra_stream.models.task import Task


@dataclass(frozen=True, slots=True)
class ChildRun:
    """A child task run to create: a task, and the iteration value it runs for (if any)."""

    task: Task
    value: str | None = None
    iteration: int | None = None


@dataclass(frozen=True, slots=True)
class Start:
    children: tuple[ChildRun, ...]


@dataclass(frozen=True, slots=True)
class Wait:
    """Children are still running; nothing new to start."""


@dataclass(frozen=True, slots=True)
class Done:
    state: StateType
    outputs: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Later:
    """Nothing to start before ``at``: resolve this task run again then (a timer of the executor)."""

    at: datetime
    key: int  # names the timer: asking twice for the same key and time schedules it once


Resolution = Start | Wait | Done | Later
WAIT = Wait()


@dataclass(frozen=True, slots=True)
class LoopLimits:
    """When a loop stops although its condition is still false."""

    max_iterations: int | None
    max_duration: timedelta | None
    interval: timedelta
    fail_on_max: bool


class FlowableContext(Protocol):
    """A flowable task run as the executor shows it to its plugin (no I/O, no clock)."""

    def render(self, value: Any) -> Any:
        """Typed rendering with the task run's variables (a lone ``{{ expr }}`` keeps its type)."""

    def render_once(self, key: str, value: Any) -> Any:
        """Render ``value`` the first time, keep it in this task run's outputs under ``key``, and return
        the kept value from then on: a decision (If's condition, Switch's value, ForEach's values) is
        taken once per task run, whatever happens to the variables it read."""

    def sequence(self, tasks: Sequence[Task]) -> Resolution:
        """Run ``tasks`` one after another, then the owner's ``errors`` on failure, then ``finally``."""

    def parallel(self, tasks: Sequence[Task], concurrent: int = 0) -> Resolution:
        """Run ``tasks`` at most ``concurrent`` at a time (0: all at once), then errors / finally."""

    def each(self, values: Any, tasks: Sequence[Task], *, concurrency: int = 1,
             parallel_tasks: bool = False) -> Resolution:
        """Run ``tasks`` once per value (a list, or a JSON array as text), ``concurrency`` values at
        a time (0: all); within a value the tasks run in sequence, or all at once with
        ``parallel_tasks``. Each child run carries its value as ``taskrun.value``."""

    def dag(self, nodes: Sequence[tuple[Task, Sequence[str]]], concurrent: int = 0) -> Resolution:
        """Run each task once every task it depends on has ended successfully."""

    def until(self, tasks: Sequence[Task], condition: Any, limits: LoopLimits) -> Resolution:
        """Run ``tasks`` in sequence, again and again, ``limits.interval`` apart, until ``condition``
        renders true after an iteration or a limit is reached (FAILED with ``fail_on_max``, else the
        children's state). ``iterationCount`` in this task run's outputs is the current iteration (1 first)."""


def allow_failure(resolution: Resolution) -> Resolution:
    """A failed end becomes WARNING (the AllowFailure task)."""
    if isinstance(resolution, Done) and resolution.state == StateType.FAILED:
        return Done(StateType.WARNING, resolution.outputs)
    return resolution
