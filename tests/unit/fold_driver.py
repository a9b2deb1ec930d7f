"""A pure driver of ``fold``: events in, commands out, a fake clock, no asyncio and no SQLite.

It plays the part the embedded engine plays around the fold, in the simplest way: a
``RunTask`` is a job waiting for its ``TaskResult``, a ``ScheduleTimer`` a timer waiting to
fire at its ``fire_at`` (the clock jumps there), a ``CancelTimer`` forgets the timer, a
``KillTask`` forgets the job, a ``StartSubflow`` waits for its ``SubflowEnded``, an
``AcquireSlot`` waits for ``Dequeued``. Every event folded and every command emitted is
recorded, so a test can assert the exact commands of one step or replay the whole log.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kestra_stream.executor.commands import (
    AcquireSlot,
    CancelTimer,
    Command,
    ExecutionEnded,
    KillTask,
    RunTask,
    ScheduleTimer,
    StartSubflow,
)
from kestra_stream.executor.events import (
    Dequeued,
    Event,
    ExecutionCreated,
    ExecutionReplayed,
    KillRequested,
    PauseRequested,
    RestartRequested,
    ResumeRequested,
    SubflowEnded,
    TaskResult,
    TaskRunStateSet,
    TimerFired,
)
from kestra_stream.executor.fold import ExecutionState, fold
from kestra_stream.flows import load_flow
from kestra_stream.models.execution import Execution, TaskRun
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType

T0 = datetime(2024, 1, 1, tzinfo=UTC)
EXECUTION_ID = "exec-1"
LOG = "io.kestra.plugin.core.log.Log"


def flow(body: str) -> Flow:
    """Flow ``f`` of namespace ``tests.fold`` with ``body`` (its tasks ...) as YAML."""
    return load_flow("id: f\nnamespace: tests.fold\n" + textwrap.dedent(body))


def logs(*ids: str, indent: int = 2) -> str:
    """A YAML list of Log tasks named ``ids``, indented by ``indent``."""
    pad = " " * indent
    return "".join(f"{pad}- id: {i}\n{pad}  type: {LOG}\n{pad}  message: {i}\n" for i in ids)


class DriverStuck(AssertionError):
    """The execution has not ended and nothing is left to answer: the fold forgot to emit something."""


class Policy(Protocol):
    """How a driven run answers: which pending job or timer goes next, and how each job ends."""

    def pick(self, count: int) -> int:
        """The index, in ``[0, count)``, of the pending item to answer next."""

    def outcome(self, job: RunTask) -> StateType | None:
        """The attempt's state, or None for a job that never answers (its timeout timer ends it)."""


@dataclass
class FirstInLine:
    """Answers the oldest pending item; each job's state comes from ``states`` by task id."""

    states: dict[str, StateType] = field(default_factory=dict)
    default: StateType = StateType.SUCCESS

    def pick(self, count: int) -> int:
        return 0

    def outcome(self, job: RunTask) -> StateType | None:
        return self.states.get(job.task.id, self.default)


class Driver:
    """One execution of ``flow`` folded event by event, with everything it produced recorded."""

    def __init__(self, flow: Flow, *, execution_id: str = EXECUTION_ID, start: datetime = T0,
                 races: bool = True) -> None:
        self.flow = flow
        # Without races a job's timeout fires only when the job never answers, so outcomes are exact.
        self.races = races
        self.execution_id = execution_id
        self.now = start
        self.state: ExecutionState | None = None
        self.log: list[Event] = []
        self.emitted: list[list[Command]] = []
        self.jobs: dict[str, RunTask] = {}  # by job id, in dispatch order
        self.hung: dict[str, RunTask] = {}  # jobs that will never answer (a timeout ends them)
        self.timers: dict[str, ScheduleTimer] = {}
        self.subflows: dict[str, StartSubflow] = {}  # by child execution id
        self.slot_requests: list[AcquireSlot] = []
        self.killed_jobs: list[str] = []
        self.ended: ExecutionEnded | None = None
        self._events = 0

    # ----- reading --------------------------------------------------------------------------
    @property
    def execution(self) -> Execution:
        assert self.state is not None, "no execution yet: send ExecutionCreated first"
        return self.state.execution

    def taskrun(self, task_id: str, iteration: int | None = None) -> TaskRun:
        found = [tr for tr in self.execution.task_run_list
                 if tr.task_id == task_id and (iteration is None or tr.iteration == iteration)]
        assert len(found) == 1, f"expected one task run of '{task_id}', found {len(found)}"
        return found[0]

    def job(self, task_id: str) -> RunTask:
        found = [j for j in self.jobs.values() if j.task.id == task_id]
        assert len(found) == 1, f"expected one pending job of '{task_id}', found {len(found)}"
        return found[0]

    # ----- sending events -------------------------------------------------------------------
    def next_event_id(self) -> str:
        self._events += 1
        return f"ev-{self._events}"

    def send(self, event: Event) -> list[Command]:
        """Fold one event, record it and what it emitted, and track the pending work it asks for."""
        self.now = max(self.now, event.at)
        self.state, commands = fold(self.state, event, self.flow)
        self.log.append(event)
        self.emitted.append(commands)
        for command in commands:
            self._track(command)
        return commands

    def _track(self, command: Command) -> None:
        if isinstance(command, RunTask):
            self.jobs[command.job_id] = command
        elif isinstance(command, KillTask):
            job_id = f"{command.taskrun_id}:{command.attempt}"
            self.killed_jobs.append(job_id)
            self.jobs.pop(job_id, None)
        elif isinstance(command, ScheduleTimer):
            self.timers[command.timer_id] = command
        elif isinstance(command, CancelTimer):
            self.timers.pop(command.timer_id, None)
        elif isinstance(command, StartSubflow):
            self.subflows[command.child_execution_id] = command
        elif isinstance(command, AcquireSlot):
            self.slot_requests.append(command)
        elif isinstance(command, ExecutionEnded):
            self.ended = command

    def create(self, **fields: Any) -> list[Command]:
        flow = self.flow
        return self.send(ExecutionCreated(
            event_id=self.next_event_id(), execution_id=self.execution_id, at=self.now,
            namespace=flow.namespace, flow_id=flow.id, flow_revision=flow.revision or 1, **fields))

    def replay(self, source: Execution, taskrun_id: str | None, *, execution_id: str) -> list[Command]:
        self.execution_id = execution_id
        self.state = None
        return self.send(ExecutionReplayed(event_id=self.next_event_id(), execution_id=execution_id,
                                           at=self.now, source=source, taskrun_id=taskrun_id))

    def result(self, job: RunTask, state: StateType, *, outputs: dict[str, Any] | None = None,
               after: timedelta = timedelta(seconds=1)) -> list[Command]:
        """The worker's answer to ``job``, ``after`` its dispatch time (the clock moves on)."""
        self.jobs.pop(job.job_id, None)
        self.now += after
        return self.send(TaskResult(event_id=self.next_event_id(), execution_id=job.execution_id, at=self.now,
                                    taskrun_id=job.taskrun_id, attempt=job.attempt, state=state,
                                    outputs=outputs))

    def fire(self, timer_id: str) -> list[Command]:
        timer = self.timers.pop(timer_id)
        at = max(self.now, timer.fire_at)
        return self.send(TimerFired(event_id=self.next_event_id(), execution_id=timer.execution_id, at=at,
                                    timer_id=timer.timer_id, purpose=timer.purpose,
                                    taskrun_id=timer.taskrun_id, attempt=timer.attempt))

    def subflow_ended(self, child_execution_id: str, state: StateType,
                      outputs: dict[str, Any] | None = None) -> list[Command]:
        start = self.subflows.pop(child_execution_id)
        self.now += timedelta(seconds=1)
        return self.send(SubflowEnded(event_id=self.next_event_id(), execution_id=start.parent.execution_id,
                                      at=self.now, taskrun_id=start.parent.taskrun_id,
                                      child_execution_id=child_execution_id, state=state, outputs=outputs))

    def dequeue(self) -> list[Command]:
        return self.send(Dequeued(event_id=self.next_event_id(), execution_id=self.execution_id, at=self.now))

    def kill(self) -> list[Command]:
        return self.send(KillRequested(event_id=self.next_event_id(), execution_id=self.execution_id,
                                       at=self.now))

    def pause(self) -> list[Command]:
        return self.send(PauseRequested(event_id=self.next_event_id(), execution_id=self.execution_id,
                                        at=self.now))

    def resume(self, inputs: dict[str, Any] | None = None) -> list[Command]:
        return self.send(ResumeRequested(event_id=self.next_event_id(), execution_id=self.execution_id,
                                         at=self.now, inputs=inputs or {}))

    def restart(self) -> list[Command]:
        self.ended = None
        return self.send(RestartRequested(event_id=self.next_event_id(), execution_id=self.execution_id,
                                          at=self.now))

    def set_taskrun_state(self, taskrun_id: str, state: StateType) -> list[Command]:
        self.ended = None
        return self.send(TaskRunStateSet(event_id=self.next_event_id(), execution_id=self.execution_id,
                                         at=self.now, taskrun_id=taskrun_id, state=state))

    # ----- running to the end ---------------------------------------------------------------
    def pending(self) -> list[str]:
        """What can be answered next: jobs in dispatch order, then timers by fire time."""
        timers = sorted(self.timers.values(), key=lambda t: (t.fire_at, t.timer_id))
        if not self.races:
            timers = [t for t in timers if not (t.purpose == "timeout" and f"{t.taskrun_id}:{t.attempt}" in self.jobs)]
        return [*self.jobs, *(t.timer_id for t in timers), *(f"subflow:{c}" for c in self.subflows)]

    def step(self, policy: Policy) -> list[Command]:
        if self.slot_requests and self.execution.state.current == StateType.QUEUED:
            self.slot_requests.clear()
            return self.dequeue()
        pending = self.pending()
        if not pending:
            raise DriverStuck(f"execution in {self.execution.state.current} has nothing left to answer; "
                              f"task runs: {describe(self.execution.task_run_list)}")
        chosen = pending[policy.pick(len(pending))]
        if chosen in self.jobs:
            job = self.jobs[chosen]
            outcome = policy.outcome(job)
            if outcome is None:
                assert job.task.timeout is not None, f"job of '{job.task.id}' would hang without a timeout"
                self.hung[chosen] = self.jobs.pop(chosen)
                return []
            return self.result(job, outcome)
        if chosen.startswith("subflow:"):
            return self.subflow_ended(chosen.removeprefix("subflow:"), StateType.SUCCESS)
        return self.fire(chosen)

    def run(self, policy: Policy, *, max_events: int = 2_000) -> ExecutionState:
        """Answer pending work until ExecutionEnded; fail if the run does not end within ``max_events``."""
        if self.state is None:
            self.create()
        while self.ended is None:
            assert len(self.log) < max_events, f"no end after {max_events} events"
            self.step(policy)
        assert self.state is not None
        return self.state


def describe(runs: Sequence[TaskRun]) -> str:
    return ", ".join(f"{tr.task_id}[{tr.iteration}]={tr.current.value}" for tr in runs) or "none"


def refold(events: Sequence[Event], flow: Flow) -> tuple[ExecutionState | None, list[list[Command]]]:
    """Fold a recorded event log from nothing; what a backend does when it rebuilds a state."""
    state: ExecutionState | None = None
    emitted: list[list[Command]] = []
    for event in events:
        state, commands = fold(state, event, flow)
        emitted.append(commands)
    return state, emitted
