"""One child execution per batch of a file (ForEachItem's ``_items`` task run), in the pure fold.

The batches' URIs come from the outputs of the sibling split task run, which a worker ran: the fold
never reads storage. The task run keeps what it started (``executionIds``, in iteration order), which
children began to run (``running``: they report their start, ``ParentLink.report_start``) and how each
ended (``results``, by iteration); ``iterations`` (counts by state, Kestra's output, live while the
batches run) is derived from those whenever a child starts or ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from kestra_stream.errors import ExpressionError
from kestra_stream.executor.commands import KillExecution, StartSubflow
from kestra_stream.executor.events import SubflowEnded, SubflowStarted
from kestra_stream.ids import derive_id
from kestra_stream.models.execution import Attempt, ParentLink, TaskRun
from kestra_stream.models.state import State, StateType
from kestra_stream.models.task import LogLevel, SubflowBatchesTask

if TYPE_CHECKING:
    from kestra_stream.executor._working import Working


def iteration_counts(created: int, running: Collection[str],
                     results: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Kestra's ``iterations`` from the ``created`` children, the iterations that reported their start (``running``)
    and those that ended (``results``): a child counts in the last state its parent heard of."""
    counts = Counter(str(r["state"]) for r in results.values())
    running_now = len(set(running) - results.keys())
    return {"CREATED": created - len(results) - running_now, "RUNNING": running_now, **counts}


def terminal_state(results: Mapping[str, Mapping[str, Any]], transmit_failed: bool) -> StateType:
    """Kestra's rule: without transmitFailed the batches always succeed; else the worst child wins."""
    states = {StateType(str(r["state"])) for r in results.values()}
    if not transmit_failed:
        return StateType.SUCCESS
    for state in (StateType.FAILED, StateType.KILLED, StateType.WARNING):
        if state in states:
            return state
    return StateType.SUCCESS


def start_batches(w: Working, tr: TaskRun, task: SubflowBatchesTask) -> None:
    from kestra_stream.executor._working import allowed_state

    siblings = w.children_of(tr.parent_task_run_id) if tr.parent_task_run_id else []
    split = next((s for s in siblings if s.task_id == task.split_task_id), None)
    batches = [str(u) for u in ((split.outputs or {}).get("batches") or [])] if split else []
    attempt = len(tr.attempts) + 1

    def attempts(state: StateType) -> tuple[Attempt, ...]:
        return (*tr.attempts, Attempt(state=State.new(state, w.at)))

    if not batches:  # an empty file: nothing to start, as in Kestra (no outputs either)
        w.set_state(tr, StateType.SUCCESS, attempts=attempts(StateType.SUCCESS))
        return
    commands: list[StartSubflow] = []
    try:
        for iteration, uri in enumerate(batches, start=1):
            variables = w.variables(tr, task)
            variables["taskrun"] = {**variables["taskrun"], "items": uri, "iteration": iteration}
            commands.append(StartSubflow(
                execution_id=w.execution.id, child_execution_id=derive_id(w.execution.id, tr.id, attempt, iteration),
                namespace=str(w.render(task.namespace, variables)), flow_id=str(w.render(task.flow_id, variables)),
                revision=task.revision,
                inputs=w.render(task.inputs or {}, variables),
                labels=w.child_labels(task.labels, task.inherit_labels, variables),
                parent=ParentLink(execution_id=w.execution.id, taskrun_id=tr.id, namespace=w.execution.namespace,
                                  flow_id=w.execution.flow_id, wait=task.wait, transmit_failed=task.transmit_failed,
                                  report_start=task.wait)))
    except ExpressionError as exc:
        w.log(LogLevel.ERROR, f"task '{task.id}': {exc}", tr)
        w.set_state(tr, allowed_state(task, StateType.FAILED))
        return
    ids = [c.child_execution_id for c in commands]
    w.commands.extend(commands)
    if not task.wait:  # started is all there is to know: Kestra counts them SUCCESS at once
        w.set_state(tr, StateType.SUCCESS, attempts=attempts(StateType.SUCCESS),
                    outputs={"numberOfBatches": len(ids), "executionIds": ids,
                             "iterations": {"RUNNING": 0, StateType.SUCCESS.value: len(ids)}})
        return
    w.set_state(tr, StateType.RUNNING, attempts=attempts(StateType.RUNNING), outputs={
        "numberOfBatches": len(ids), "executionIds": ids, "results": {}, "running": [],
        "iterations": iteration_counts(len(ids), [], {})})


def batch_started(w: Working, tr: TaskRun, event: SubflowStarted) -> None:
    outputs = tr.outputs or {}
    ids: list[str] = list(outputs.get("executionIds") or [])
    if event.child_execution_id not in ids:
        return  # a child of an earlier attempt
    iteration = str(ids.index(event.child_execution_id) + 1)
    running: list[str] = list(outputs.get("running") or [])
    results: Mapping[str, Any] = outputs.get("results") or {}
    if iteration in running or iteration in results:
        return  # told twice, or its end arrived first
    running.append(iteration)
    w.update(tr, outputs={**outputs, "running": running, "iterations": iteration_counts(len(ids), running, results)})


def batch_ended(w: Working, tr: TaskRun, task: SubflowBatchesTask, event: SubflowEnded) -> None:
    outputs = tr.outputs or {}
    ids: list[str] = list(outputs.get("executionIds") or [])
    if event.child_execution_id not in ids:
        return  # a child of an earlier attempt
    iteration = str(ids.index(event.child_execution_id) + 1)
    results: dict[str, Any] = dict(outputs.get("results") or {})
    if iteration in results:
        return  # told twice
    if event.message:
        w.log(LogLevel.ERROR, f"batch {iteration}: {event.message}", tr)
    results[iteration] = {"executionId": event.child_execution_id, "state": event.state.value,
                          "outputs": event.outputs or {}}
    new_outputs = {**outputs, "results": results,
                   "iterations": iteration_counts(len(ids), outputs.get("running") or [], results)}
    if len(results) < len(ids):
        w.update(tr, outputs=new_outputs)
        return
    w.end_child_attempt(tr, task, terminal_state(results, task.transmit_failed), new_outputs)


def kill_batches(w: Working, tr: TaskRun) -> None:
    """Kill the children still running (the parent is being killed)."""
    outputs = tr.outputs or {}
    results = outputs.get("results") or {}
    for index, child_id in enumerate(outputs.get("executionIds") or [], start=1):
        if str(index) not in results:
            w.commands.append(KillExecution(execution_id=str(child_id)))
