"""What the executor needs to know about a flow's tasks, computed once per flow revision."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kestra_stream.models.inputs import InputType
from kestra_stream.models.task import FlowableTask, Task, WorkerGroup

if TYPE_CHECKING:
    from kestra_stream.models.flow import Flow


@dataclass(frozen=True)
class FlowIndex:
    tasks: dict[str, Task]
    # Tasks of errors / finally / afterExecution lists: a restart drops their runs so they run again.
    handler_ids: frozenset[str]
    # afterExecution tasks (and their children) run once the execution has its final state.
    after_ids: frozenset[str]
    # SECRET inputs, whose values workers mask.
    secret_inputs: tuple[str, ...] = ()
    # The flow's workerGroup: that of every task without its own.
    worker_group: WorkerGroup | None = None

    def task(self, task_id: str) -> Task:
        return self.tasks[task_id]


def _walk(tasks: list[Task] | None, into: dict[str, Task], handlers: set[str], handler: bool) -> None:
    for task in tasks or ():
        into[task.id] = task
        if handler:
            handlers.add(task.id)
        if isinstance(task, FlowableTask):
            for branch in task.branches().values():
                _walk(list(branch), into, handlers, False)
            _walk(task.errors, into, handlers, True)
            _walk(task.finally_, into, handlers, True)


def _build(flow: Flow) -> FlowIndex:
    tasks: dict[str, Task] = {}
    handlers: set[str] = set()
    _walk(list(flow.tasks), tasks, handlers, False)
    _walk(flow.errors, tasks, handlers, True)
    _walk(flow.finally_, tasks, handlers, True)
    before = set(tasks)
    _walk(flow.after_execution, tasks, handlers, True)
    _walk(flow.listener_tasks(), tasks, handlers, True)
    secrets = tuple(i.id for i in flow.inputs or () if i.type.canonical is InputType.SECRET)
    return FlowIndex(tasks, frozenset(handlers), frozenset(set(tasks) - before), secrets, flow.worker_group)


# Flows are immutable per revision; keep the flow itself so its id() cannot be reused while cached.
_CACHE: OrderedDict[int, tuple[Flow, FlowIndex]] = OrderedDict()
_CACHE_SIZE = 512


def index_of(flow: Flow) -> FlowIndex:
    key = id(flow)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is flow:
        _CACHE.move_to_end(key)
        return hit[1]
    index = _build(flow)
    _CACHE[key] = (flow, index)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return index
