"""Properties of the executor fold over random flows (hypothesis).

Random trees of flowables (Sequential, Parallel, If, Switch, ForEach, EachParallel,
AllowFailure, Dag) with Log / Fail / Sleep leaves and random allowFailure, disabled, runIf,
retry, timeout, errors and finally are written as flow text, loaded with ``load_flow`` and
run through ``fold`` by the pure driver with random outcomes and a random answering order.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fold_driver import Driver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kestra_stream.executor.commands import Command, ExecutionEnded, KillTask, RunTask
from kestra_stream.executor.events import EVENT_ADAPTER, Event, TaskResult, TimerFired
from kestra_stream.executor.fold import ExecutionState, fold
from kestra_stream.flows import load_flow
from kestra_stream.models.execution import TaskRun
from kestra_stream.models.state import StateType

LOG = "io.kestra.plugin.core.log.Log"
FAIL = "io.kestra.plugin.core.execution.Fail"
SLEEP = "io.kestra.plugin.core.flow.Sleep"
FLOW = "io.kestra.plugin.core.flow."
S, W, F = StateType.SUCCESS, StateType.WARNING, StateType.FAILED
TIMEOUT = "timeout"  # an attempt whose job never answers: its timeout timer fails it
FINAL = {StateType.SUCCESS, StateType.WARNING, StateType.FAILED, StateType.KILLED}
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Raw = dict[str, Any]
Outcome = StateType | str


# ----- random flows -----------------------------------------------------------------------------


@dataclass
class Generated:
    raw: Raw
    outcomes: dict[str, list[Outcome]]  # by leaf task id, one per attempt

    @property
    def text(self) -> str:
        return json.dumps(self.raw, indent=2)  # JSON is YAML: the flow goes through the YAML loader


class _Builder:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.ids: Iterator[int] = itertools.count()
        self.outcomes: dict[str, list[Outcome]] = {}

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids)}"

    def common(self, node: Raw) -> Raw:
        draw = self.draw
        if draw(st.integers(0, 5)) == 0:
            node["allowFailure"] = True
        if draw(st.integers(0, 11)) == 0:
            node["disabled"] = True
        run_if = draw(st.sampled_from([None] * 6 + ["true", "false", "{{ 1 == 1 }}", "{{ 1 == 2 }}"]))
        if run_if is not None:
            node["runIf"] = run_if
        return node

    def leaf(self) -> Raw:
        draw = self.draw
        kind = draw(st.sampled_from([LOG, LOG, FAIL, SLEEP]))
        task_id = self.new_id("t")
        node: Raw = {"id": task_id, "type": kind}
        if kind == SLEEP:
            node["duration"] = f"PT{draw(st.integers(1, 9))}S"
            return self.common(node)
        node["message" if kind == LOG else "errorMessage"] = task_id
        attempts = 1
        retry = draw(st.sampled_from([None, None, "constant", "exponential"]))
        if retry is not None:
            attempts = draw(st.integers(1, 3))
            node["retry"] = {"type": retry, "interval": "PT1S", "maxAttempts": attempts}
            if retry == "exponential":
                node["retry"]["maxInterval"] = "PT4S"
            if draw(st.booleans()):
                node["retry"]["warningOnRetry"] = True
        choices: list[Outcome] = [S, S, W, F] if kind == LOG else [F]
        if draw(st.booleans()):
            node["timeout"] = "PT30S"
            choices.append(TIMEOUT)
        self.outcomes[task_id] = [draw(st.sampled_from(choices)) for _ in range(attempts)]
        return self.common(node)

    def leaves(self, low: int, high: int) -> list[Raw]:
        return [self.leaf() for _ in range(self.draw(st.integers(low, high)))]

    def nodes(self, depth: int, low: int, high: int) -> list[Raw]:
        return [self.node(depth) for _ in range(self.draw(st.integers(low, high)))]

    def node(self, depth: int) -> Raw:
        draw = self.draw
        if depth <= 0 or draw(st.integers(0, 3)) == 0:
            return self.leaf()
        kind = draw(st.sampled_from(
            ["Sequential", "Parallel", "If", "Switch", "ForEach", "EachParallel", "AllowFailure", "Dag"]))
        node: Raw = {"id": self.new_id(kind.lower()), "type": FLOW + kind}
        inner = depth - 1
        if kind in ("Sequential", "AllowFailure"):
            node["tasks"] = self.nodes(inner, 1, 3)
        elif kind == "Parallel":
            node["tasks"] = self.nodes(inner, 1, 3)
            node["concurrent"] = draw(st.integers(0, 2))
        elif kind == "If":
            node["condition"] = draw(st.sampled_from(["true", "false", "{{ 2 > 1 }}", "{{ 2 < 1 }}"]))
            node["then"] = self.nodes(inner, 1, 2)
            if draw(st.booleans()):
                node["else"] = self.nodes(inner, 1, 2)
        elif kind == "Switch":
            node["value"] = draw(st.sampled_from(["a", "b", "c"]))
            node["cases"] = {key: self.nodes(inner, 1, 2) for key in ("a", "b") if draw(st.booleans())}
            if not node["cases"] or draw(st.booleans()):
                node["defaults"] = self.nodes(inner, 1, 2)
        elif kind == "ForEach":
            node["values"] = [f"v{i}" for i in range(draw(st.integers(0, 4)))]
            node["concurrencyLimit"] = draw(st.integers(0, 2))
            node["tasks"] = self.nodes(inner, 1, 2)
        elif kind == "EachParallel":
            node["value"] = json.dumps([f"v{i}" for i in range(draw(st.integers(0, 3)))])
            node["tasks"] = self.nodes(inner, 1, 2)
        else:
            children = self.nodes(inner, 1, 4)
            dag: list[Raw] = []
            for i, child in enumerate(children):
                earlier = [c["id"] for c in children[:i]]
                deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
                dag.append({"task": child, "dependsOn": deps} if deps else {"task": child})
            node["tasks"] = dag
        if draw(st.integers(0, 3)) == 0:
            node["errors"] = self.leaves(1, 1)
        if draw(st.integers(0, 3)) == 0:
            node["finally"] = self.leaves(1, 1)
        return self.common(node)


@st.composite
def flows(draw: st.DrawFn, depth: int = 3) -> Generated:
    b = _Builder(draw)
    raw: Raw = {"id": "random", "namespace": "tests.properties", "tasks": b.nodes(depth, 1, 4)}
    if draw(st.booleans()):
        raw["errors"] = b.leaves(1, 2)
    if draw(st.booleans()):
        raw["finally"] = b.leaves(1, 2)
    return Generated(raw, b.outcomes)


@dataclass
class Scripted:
    """Each leaf's attempts end as drawn; the next item to answer is picked at random."""

    outcomes: dict[str, list[Outcome]]
    rng: random.Random

    def pick(self, count: int) -> int:
        return self.rng.randrange(count)

    def outcome(self, job: RunTask) -> StateType | None:
        outcome = self.outcomes[job.task.id][job.attempt - 1]
        return None if outcome == TIMEOUT else StateType(outcome)


# ----- an independent oracle of the final state -----------------------------------------------


_RANK = {S: 0, StateType.SKIPPED: 0, W: 1, F: 2}


def _worst(states: Sequence[StateType]) -> StateType:
    rank = max((_RANK[s] for s in states), default=0)
    return {0: S, 1: W, 2: F}[rank]


def _truthy(expression: str) -> bool:
    return {"true": True, "false": False, "{{ 1 == 1 }}": True, "{{ 1 == 2 }}": False,
            "{{ 2 > 1 }}": True, "{{ 2 < 1 }}": False}[expression]


class Oracle:
    """The final state Kestra's rules give, computed from the raw flow alone (no executor code)."""

    def __init__(self, outcomes: dict[str, list[Outcome]]) -> None:
        self.outcomes = outcomes

    def sequence(self, tasks: Sequence[Raw] | None) -> tuple[list[StateType], bool]:
        states: list[StateType] = []
        for task in tasks or ():
            if task.get("disabled"):
                continue
            state = self.state(task)
            states.append(state)
            if state == F:
                return states, True
        return states, False

    def all_of(self, tasks: Sequence[Raw]) -> tuple[list[StateType], bool]:
        states = [self.state(t) for t in tasks if not t.get("disabled")]
        return states, F in states

    def tail(self, node: Raw, states: list[StateType], failed: bool) -> StateType:
        if failed:
            states = states + self.sequence(node.get("errors"))[0]
        states = states + self.sequence(node.get("finally"))[0]
        return F if failed else _worst(states)

    def state(self, node: Raw) -> StateType:
        if "runIf" in node and not _truthy(node["runIf"]):
            return StateType.SKIPPED
        state = self.raw_state(node)
        if state == F and node.get("allowFailure"):
            state = W
        return state

    def raw_state(self, node: Raw) -> StateType:
        kind = node["type"].removeprefix(FLOW)
        if node["type"] in (LOG, FAIL):
            return self.leaf(node)
        if kind == "Sleep":
            return S
        if kind in ("Sequential", "AllowFailure"):
            state = self.tail(node, *self.sequence(node["tasks"]))
            return W if kind == "AllowFailure" and state == F else state
        if kind == "Parallel":
            return self.tail(node, *self.all_of(node["tasks"]))
        if kind == "If":
            chosen = node["then"] if _truthy(node["condition"]) else node.get("else")
            return self.tail(node, *self.sequence(chosen))
        if kind == "Switch":
            case = node.get("cases", {}).get(node["value"], node.get("defaults"))
            if case is None:
                return F  # nothing to run for the value: the Switch fails, without errors / finally
            return self.tail(node, *self.sequence(case))
        if kind in ("ForEach", "EachParallel"):
            values = node["values"] if kind == "ForEach" else json.loads(node["value"])
            one = self.sequence(node["tasks"]) if kind == "ForEach" else self.all_of(node["tasks"])
            # Every iteration runs the same leaves, so ends alike; none runs without values.
            return self.tail(node, one[0] * len(values), one[1] and bool(values))
        assert kind == "Dag", kind
        return self.tail(node, *self.all_of([n["task"] for n in node["tasks"]]))

    def leaf(self, node: Raw) -> StateType:
        retry = node.get("retry") or {}
        for attempt, outcome in enumerate(self.outcomes[node["id"]]):
            if outcome in (S, W):
                if outcome == S and attempt > 0 and retry.get("warningOnRetry"):
                    return W
                return StateType(outcome)
        return F

    def flow(self, raw: Raw) -> StateType:
        return self.tail(raw, *self.sequence(raw["tasks"]))


# ----- invariants checked after every event ---------------------------------------------------


class Invariants:
    def __init__(self, *, restarted: bool = False) -> None:
        self.jobs: set[str] = set()
        self.ended = 0
        self.restarted = restarted  # a restart adds attempts beyond the retry policy's count

    def check(self, before: ExecutionState | None, after: ExecutionState | None, commands: list[Command],
              *, reopens: bool = False) -> None:
        """``reopens``: a restart, which may start children again under parents it reopens."""
        assert after is not None
        old = {tr.id: tr for tr in before.execution.task_run_list} if before else {}
        runs = {tr.id: tr for tr in after.execution.task_run_list}
        for tr in runs.values():
            parent = runs.get(tr.parent_task_run_id) if tr.parent_task_run_id else None
            if parent is not None and parent.current.is_terminated:
                assert tr.current.is_terminated, f"{_name(tr)} is {tr.current} under ended {_name(parent)}"
            previous = old.get(tr.id)
            started = previous is None or len(tr.attempts) > len(previous.attempts)
            old_parent = old.get(tr.parent_task_run_id) if tr.parent_task_run_id else None
            if started and old_parent is not None and not reopens:
                assert not old_parent.current.is_terminated, \
                    f"{_name(tr)} created or started under {_name(old_parent)}, which had ended"
        for command in commands:
            if isinstance(command, RunTask):
                assert command.job_id not in self.jobs, f"attempt dispatched twice: {command.job_id}"
                self.jobs.add(command.job_id)
                tr = runs[command.taskrun_id]
                assert command.attempt == len(tr.attempts) and tr.current == StateType.RUNNING
                retry = command.task.retry
                limit = retry.max_attempts if retry is not None and retry.max_attempts else 1
                assert self.restarted or command.attempt <= limit, \
                    f"attempt {command.attempt} of {tr.task_id} beyond {limit}"
            if isinstance(command, ExecutionEnded):
                self.ended += 1
                assert self.ended == 1, "ExecutionEnded emitted twice"
                assert command.state in FINAL
                assert all(tr.current.is_terminated for tr in runs.values()), \
                    f"ended with task runs still open: {[_name(tr) for tr in runs.values()]}"


def _name(tr: TaskRun) -> str:
    return f"{tr.task_id}[{tr.iteration}]={tr.current.value}"


def drive(d: Driver, policy: Scripted, *, steps: int | None = None, redeliver: bool = False,
          max_events: int = 3_000, inv: Invariants | None = None) -> Invariants:
    """Run until the end (or ``steps`` answers), checking the invariants after each event."""
    inv = inv or Invariants()
    if d.state is None:
        d.create()
        inv.check(None, d.state, d.emitted[-1])
    count = 0
    while d.ended is None and (steps is None or count < steps):
        assert len(d.log) < max_events, f"no end after {max_events} events"
        before = d.state
        logged = len(d.log)
        d.step(policy)
        for commands in d.emitted[logged:]:
            inv.check(before, d.state, commands)
        count += 1
        if redeliver and policy.rng.random() < 0.2:
            old = [e for e in d.log if isinstance(e, TaskResult | TimerFired)]
            if old:
                assert_noop(d, policy.rng.choice(old))
    return inv


def assert_noop(d: Driver, event: Event) -> None:
    before = d.state
    commands = d.send(event)
    assert commands == [], f"redelivered {event.kind} emitted {commands}"
    assert d.state == before, f"redelivered {event.kind} changed the state"


def deliver_leftovers(d: Driver) -> None:
    """Everything still pending after the end: each is a no-op for an ended execution."""
    for timer_id in list(d.timers):
        before = d.state
        assert d.fire(timer_id) == []
        assert d.state == before
    for job in [*d.jobs.values(), *d.hung.values()]:
        before = d.state
        assert d.result(job, S) == []
        assert d.state == before


# ----- properties -----------------------------------------------------------------------------


@SETTINGS
@given(flows(), st.randoms(use_true_random=False))
def test_a_random_flow_always_ends_in_a_final_state_with_every_task_run_ended(
        generated: Generated, rng: random.Random) -> None:
    d = Driver(load_flow(generated.text))
    inv = drive(d, Scripted(generated.outcomes, rng), redeliver=True)
    assert inv.ended == 1
    assert d.execution.state.current in FINAL
    assert all(tr.current.is_terminated for tr in d.execution.task_run_list)
    deliver_leftovers(d)


@SETTINGS
@given(flows(), st.randoms(use_true_random=False))
def test_the_final_state_matches_an_independent_oracle(generated: Generated, rng: random.Random) -> None:
    d = Driver(load_flow(generated.text), races=False)
    drive(d, Scripted(generated.outcomes, rng))
    assert d.execution.state.current == Oracle(generated.outcomes).flow(generated.raw)


@SETTINGS
@given(flows(), st.randoms(use_true_random=False))
def test_refolding_the_recorded_event_log_reproduces_the_state_and_the_commands(
        generated: Generated, rng: random.Random) -> None:
    d = Driver(load_flow(generated.text))
    drive(d, Scripted(generated.outcomes, rng), redeliver=True)
    # A backend rebuilds from stored events and a flow loaded again: both go through their wire form.
    events = [EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(e)) for e in d.log]
    flow_again = load_flow(generated.text)
    state: ExecutionState | None = None
    for event, expected in zip(events, d.emitted, strict=True):
        state, commands = fold(state, event, flow_again)
        assert commands == expected
    assert state == d.state


@SETTINGS
@given(flows(), st.randoms(use_true_random=False))
def test_an_execution_state_survives_its_json_form(generated: Generated, rng: random.Random) -> None:
    d = Driver(load_flow(generated.text))
    drive(d, Scripted(generated.outcomes, rng), steps=rng.randrange(0, 12))
    assert d.state is not None
    assert ExecutionState.model_validate_json(d.state.model_dump_json()) == d.state


@SETTINGS
@given(flows(), st.randoms(use_true_random=False), st.integers(0, 15))
def test_a_kill_at_any_point_ends_killed_with_no_task_run_left_running(
        generated: Generated, rng: random.Random, steps: int) -> None:
    d = Driver(load_flow(generated.text))
    inv = drive(d, Scripted(generated.outcomes, rng), steps=steps)
    if d.ended is not None:
        ended = d.state
        assert d.kill() == []
        assert d.state == ended
        return
    running = {f"{tr.id}:{len(tr.attempts)}" for tr in d.execution.task_run_list
               if tr.attempts and not tr.attempts[-1].state.current.is_terminated
               and f"{tr.id}:{len(tr.attempts)}" in {*d.jobs, *d.hung}}
    before = d.state
    commands = d.kill()
    inv.check(before, d.state, commands)
    assert {f"{c.taskrun_id}:{c.attempt}" for c in commands if isinstance(c, KillTask)} == running
    assert isinstance(commands[-1], ExecutionEnded) and commands[-1].state == StateType.KILLED
    assert d.execution.state.current == StateType.KILLED
    assert all(tr.current.is_terminated for tr in d.execution.task_run_list)
    assert not any(tr.current.is_running for tr in d.execution.task_run_list)
    deliver_leftovers(d)


@SETTINGS
@given(flows(), st.randoms(use_true_random=False), st.integers(0, 10))
def test_a_pause_at_any_point_holds_new_work_until_resumed(
        generated: Generated, rng: random.Random, steps: int) -> None:
    d = Driver(load_flow(generated.text))
    policy = Scripted(generated.outcomes, rng)
    inv = drive(d, policy, steps=steps)
    if d.ended is not None:
        return
    before = d.state
    commands = d.pause()
    inv.check(before, d.state, commands)
    assert d.execution.state.current == StateType.PAUSED
    dispatched = len(inv.jobs)
    while d.jobs:  # running attempts end while paused; nothing new may start
        before = d.state
        commands = d.result(next(iter(d.jobs.values())), S)
        inv.check(before, d.state, commands)
        assert not any(isinstance(c, RunTask) for c in commands)
    assert len(inv.jobs) == dispatched
    before = d.state
    commands = d.resume()
    inv.check(before, d.state, commands)
    drive(d, policy, inv=inv)
    assert d.execution.state.current in FINAL
    assert all(tr.current.is_terminated for tr in d.execution.task_run_list)


@SETTINGS
@given(flows(), st.randoms(use_true_random=False))
def test_a_restarted_failed_execution_ends_again_and_its_log_refolds_alike(
        generated: Generated, rng: random.Random) -> None:
    d = Driver(load_flow(generated.text))
    policy = Scripted(generated.outcomes, rng)
    inv = drive(d, policy)
    if d.execution.state.current != StateType.FAILED:
        return
    before = d.state
    commands = d.restart()
    inv = Invariants(restarted=True)
    inv.check(before, d.state, commands, reopens=True)
    succeed = Scripted({task_id: [S] * 9 for task_id in generated.outcomes}, rng)
    drive(d, succeed, inv=inv)
    assert inv.ended == 1
    assert d.execution.state.current in FINAL
    assert all(tr.current.is_terminated for tr in d.execution.task_run_list)
    state: ExecutionState | None = None
    for event in d.log:
        state, _ = fold(state, event, d.flow)
    assert state == d.state
