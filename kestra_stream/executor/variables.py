"""The variables an expression sees (Kestra's RunVariables), built from the execution alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from kestra_stream.models.execution import Execution, TaskRun

if TYPE_CHECKING:
    from kestra_stream.models.flow import Flow
    from kestra_stream.models.task import Task


def iteration_path(taskrun: TaskRun, by_id: Mapping[str, TaskRun]) -> list[str]:
    """The values of the iterations this task run is inside, outermost first."""
    path: list[str] = []
    current: TaskRun | None = taskrun
    while current is not None:
        if current.iteration is not None and current.value is not None:
            path.append(current.value)
        current = by_id.get(current.parent_task_run_id) if current.parent_task_run_id else None
    path.reverse()
    return path


def outputs_map(execution: Execution, by_id: Mapping[str, TaskRun]) -> dict[str, Any]:
    """``outputs.<taskId>``, keyed further by value for task runs inside iterations."""
    out: dict[str, Any] = {}
    for tr in execution.task_run_list:
        if tr.outputs is None:
            continue
        path = iteration_path(tr, by_id)
        if not path:
            out[tr.task_id] = tr.outputs
            continue
        node = out.setdefault(tr.task_id, {})
        for value in path[:-1]:
            node = node.setdefault(value, {})
        node[path[-1]] = tr.outputs
    return out


def execution_variables(execution: Execution, flow: Flow, *, outputs: Mapping[str, Any],
                        envs: Mapping[str, str], globals_: Mapping[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": execution.flow_revision},
        "execution": {
            "id": execution.id,
            "startDate": _text(execution.state.start_date),
            "originalId": execution.original_id or execution.id,
            "state": execution.state.current.value,
        },
        "inputs": execution.inputs or {},
        "outputs": outputs,
        "vars": flow.variables or {},
        "labels": label_variables(execution.labels),
        "envs": dict(envs),
        "globals": dict(globals_),
    }
    if execution.trigger is not None:
        variables["trigger"] = execution.trigger.get("variables") or {}
    if execution.schedule_date is not None:
        variables["execution"]["scheduleDate"] = _text(execution.schedule_date)
    return variables


def label_variables(labels: Mapping[str, str]) -> dict[str, Any]:
    """``labels``: Kestra's ``system.*`` labels read as a map, ``labels.system.correlationId``."""
    out: dict[str, Any] = {}
    system: dict[str, str] = {}
    for key, value in labels.items():
        if key.startswith("system."):
            system[key.removeprefix("system.")] = value
        else:
            out[key] = value
    if system:
        out["system"] = system
    return out


def taskrun_variables(base: Mapping[str, Any], task: Task, taskrun: TaskRun,
                      by_id: Mapping[str, TaskRun], attempts_count: int) -> dict[str, Any]:
    variables = dict(base)
    variables["task"] = {"id": task.id, "type": task.type}
    variables["taskrun"] = _taskrun_vars(taskrun, attempts_count)
    parents: list[dict[str, Any]] = []
    parent_id = taskrun.parent_task_run_id
    while parent_id is not None:
        parent = by_id.get(parent_id)
        if parent is None:
            break
        parents.append({"taskrun": _taskrun_vars(parent, len(parent.attempts)), "outputs": parent.outputs or {}})
        parent_id = parent.parent_task_run_id
    if parents:
        variables["parent"] = parents[0]
        variables["parents"] = parents
    return variables


def _taskrun_vars(taskrun: TaskRun, attempts_count: int) -> dict[str, Any]:
    return {
        "id": taskrun.id,
        "startDate": _text(taskrun.state.start_date),
        "attemptsCount": attempts_count,
        "parentId": taskrun.parent_task_run_id,
        "value": taskrun.value,
        "iteration": taskrun.iteration,
    }


def _text(value: object) -> str:
    # Variables hold only JSON values, so a job on the Kafka backend (which travels as JSON) sees
    # exactly what the embedded worker sees.
    return str(to_jsonable_python(value))
