"""Load-time checks a flow's model cannot make on its own, run on the raw YAML values.

They run on the parsed document rather than on the validated model so that they still
report when the model has problems of its own: a flow is checked completely when it is
loaded, and every problem comes back at once, each pointing at its line.

- duplicate task ids anywhere (nested, errors, finally, afterExecution, flowable branches),
  duplicate trigger ids and duplicate input ids;
- inputs' ``dependsOn`` naming an unknown input, and cycles among them;
- Dag tasks' ``dependsOn`` naming a task outside the Dag, and cycles among them;
- a flowable task with an empty task list;
- a Subflow or ForEachItem that calls the flow itself (Kestra refuses the recursion at validation);

Expression syntax is not among them: Kestra compiles an expression only when it renders it, so a
flow whose expression cannot be parsed deploys and the task using it fails when it runs (Kestra's
``flowable-with-parent-fail``). :func:`expression_warnings` names those expressions for ``flow
validate`` and the API's validation, as warnings that do not refuse the flow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kestra_stream.errors import ExpressionError, FlowProblem
from kestra_stream.expressions import default_engine
from kestra_stream.flows._source import Path, Source, format_path
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.task import FlowableTask, Task
from kestra_stream.plugins.registry import PluginKind, PluginRegistry

TASK_LISTS = ("tasks", "errors", "finally", "afterExecution", "listeners")
DAG_TYPE = "io.kestra.plugin.core.flow.Dag"
# The properties of a flowable that Kestra requires to hold at least one task.
REQUIRED_TASK_LISTS = ("tasks", "then")


@dataclass(frozen=True)
class RawTask:
    """A task as written: where it is, its mapping, and its plugin class when the type is known."""

    path: Path
    raw: Mapping[str, Any]
    cls: type[PluginModel] | None


def iter_tasks(data: Mapping[str, Any], registry: PluginRegistry) -> Iterator[RawTask]:
    """Every task mapping of the flow, at any depth, in document order."""
    for key in TASK_LISTS:
        yield from _tasks_in(data.get(key), (key,), registry)


def _tasks_in(value: Any, path: Path, registry: PluginRegistry) -> Iterator[RawTask]:
    if isinstance(value, Mapping):
        type_name = value.get("type")
        cls = registry.resolve(PluginKind.TASK, type_name) if isinstance(type_name, str) else None
        if cls is not None and isinstance(value.get("id"), str):
            yield RawTask(path, value, cls)
        for key, inner in value.items():
            yield from _tasks_in(inner, (*path, str(key)), registry)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _tasks_in(inner, (*path, index), registry)


@dataclass(frozen=True)
class CheckResult:
    """Problems found, and the paths (``tasks[0]``) where a model error would only repeat one of them."""

    problems: list[FlowProblem]
    superseded: set[str]


def run_checks(source: Source, registry: PluginRegistry) -> CheckResult:
    data = source.data
    if not isinstance(data, Mapping):
        return CheckResult([], set())
    tasks = list(iter_tasks(data, registry))
    problems: list[FlowProblem] = []
    superseded: set[str] = set()
    problems += _aliases_twice(source)
    problems += _duplicate_task_ids(source, tasks)
    problems += _duplicate_ids(source, "triggers", "trigger")
    problems += _duplicate_ids(source, "inputs", "input")
    problems += _input_dependencies(source)
    problems += _empty_task_lists(source, tasks)
    problems += _recursive_calls(source, tasks)
    for task in tasks:
        if task.cls is not None and task.cls.plugin is not None and task.cls.plugin.type == DAG_TYPE:
            problems += _dag(source, task)
            # The Dag model checks its graph too, pointing at the whole task: ours say where.
            inside = format_path(task.path)
            if any(p.path.startswith(inside + ".") for p in problems):
                superseded.add(inside)
    return CheckResult(problems, superseded)


def _aliases_twice(source: Source) -> list[FlowProblem]:
    if "pluginDefaults" in source.data and "taskDefaults" in source.data:
        return [source.problem("both 'pluginDefaults' and its old name 'taskDefaults' are set; "
                               "move every default under 'pluginDefaults'", ("taskDefaults",), key=True)]
    return []


def _duplicate_task_ids(source: Source, tasks: list[RawTask]) -> list[FlowProblem]:
    seen: dict[str, Path] = {}
    problems: list[FlowProblem] = []
    for task in tasks:
        task_id = str(task.raw["id"])
        first = seen.get(task_id)
        if first is None:
            seen[task_id] = task.path
            continue
        problems.append(source.problem(
            f"duplicate task id '{task_id}' (first used at {_where(source, first)}); "
            "task ids must be unique in the whole flow, rename one of them", (*task.path, "id")))
    return problems


def _duplicate_ids(source: Source, key: str, what: str) -> list[FlowProblem]:
    items = source.data.get(key)
    if not isinstance(items, list):
        return []
    seen: dict[str, int] = {}
    problems: list[FlowProblem] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        item_id = item["id"]
        if item_id in seen:
            problems.append(source.problem(
                f"duplicate {what} id '{item_id}' (first used at {_where(source, (key, seen[item_id]))}); "
                f"{what} ids must be unique, rename one of them", (key, index, "id")))
        else:
            seen[item_id] = index
    return problems


def _where(source: Source, path: Path) -> str:
    pos = source.position(path)
    return f"line {pos[0]}" if pos else ".".join(str(p) for p in path)


def _input_dependencies(source: Source) -> list[FlowProblem]:
    inputs = source.data.get("inputs")
    if not isinstance(inputs, list):
        return []
    known = {i["id"] for i in inputs if isinstance(i, Mapping) and isinstance(i.get("id"), str)}
    graph: dict[str, list[str]] = {}
    where: dict[str, Path] = {}
    problems: list[FlowProblem] = []
    for index, item in enumerate(inputs):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        depends = item.get("dependsOn")
        names = depends.get("inputs") if isinstance(depends, Mapping) else None
        if not isinstance(names, list):
            continue
        graph[item["id"]] = []
        where[item["id"]] = ("inputs", index, "dependsOn")
        for n, name in enumerate(names):
            if not isinstance(name, str):
                continue
            if name not in known:
                problems.append(source.problem(
                    f"input '{item['id']}' depends on unknown input '{name}'; "
                    f"declare it or use one of {_names(known - {item['id']})}",
                    ("inputs", index, "dependsOn", "inputs", n)))
            else:
                graph[item["id"]].append(name)
    cycle = _find_cycle(graph)
    if cycle:
        problems.append(source.problem(
            f"inputs depend on each other in a cycle: {' -> '.join(cycle)}; "
            "remove one of these dependsOn entries", where[cycle[0]], key=True))
    return problems


def _dag(source: Source, task: RawTask) -> list[FlowProblem]:
    nodes = task.raw.get("tasks")
    if not isinstance(nodes, list):
        return []
    ids: dict[str, int] = {}
    for index, node in enumerate(nodes):
        inner = node.get("task") if isinstance(node, Mapping) else None
        if isinstance(inner, Mapping) and isinstance(inner.get("id"), str):
            ids[inner["id"]] = index
    graph: dict[str, list[str]] = {name: [] for name in ids}
    problems: list[FlowProblem] = []
    dag_id = task.raw["id"]
    for index, node in enumerate(nodes):
        if not isinstance(node, Mapping):
            continue
        inner = node.get("task")
        own = inner.get("id") if isinstance(inner, Mapping) else None
        depends = node.get("dependsOn")
        if not isinstance(depends, list):
            continue
        for n, name in enumerate(depends):
            path = (*task.path, "tasks", index, "dependsOn", n)
            if name not in ids:
                problems.append(source.problem(
                    f"task '{own}' of Dag '{dag_id}' depends on '{name}', which is not a task of this Dag; "
                    f"use one of {_names(set(ids) - {own})}", path))
            elif isinstance(own, str):
                graph[own].append(name)
    cycle = _find_cycle(graph)
    if cycle:
        problems.append(source.problem(
            f"tasks of Dag '{dag_id}' depend on each other in a cycle: {' -> '.join(cycle)}; "
            "remove one of these dependsOn entries", (*task.path, "tasks", ids[cycle[0]], "dependsOn"),
            key=True))
    return problems


def _find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or an empty list."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for start in graph:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def _names(names: set[str]) -> str:
    return ", ".join(repr(n) for n in sorted(names)) if names else "no other"


def _empty_task_lists(source: Source, tasks: list[RawTask]) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    if "tasks" in source.data and not source.data.get("tasks"):
        problems.append(source.problem("the flow has no task; add at least one task under 'tasks'",
                                       ("tasks",), key=True))
    for task in tasks:
        if task.cls is None or not issubclass(task.cls, FlowableTask):
            continue
        for key in REQUIRED_TASK_LISTS:
            if key in task.raw and not task.raw[key]:
                problems.append(source.problem(
                    f"flowable task '{task.raw['id']}' has an empty '{key}' list; "
                    "add at least one task to it", (*task.path, key), key=True))
    return problems


def _recursive_calls(source: Source, tasks: list[RawTask]) -> list[FlowProblem]:
    flow_id, namespace = source.data.get("id"), source.data.get("namespace")
    if not isinstance(flow_id, str) or not isinstance(namespace, str):
        return []
    return [source.problem(
        f"task '{task.raw['id']}' calls this flow ({namespace}.{flow_id}) from itself, which Kestra refuses as a "
        "recursive call; move the repeated work into another flow and call that one, or loop with ForEach",
        task.path) for task in tasks
        if task.cls is not None and issubclass(task.cls, Task) and task.cls.calls_flow
        and task.raw.get("flowId") == flow_id and task.raw.get("namespace") == namespace]


def expression_warnings(source: Source) -> list[FlowProblem]:
    """Every expression of tasks, triggers, outputs and variables that cannot be parsed, at its line."""
    if not isinstance(source.data, Mapping):
        return []
    engine = default_engine()
    warnings: list[FlowProblem] = []
    for key in ("tasks", "errors", "finally", "afterExecution", "triggers", "outputs", "variables"):
        for path, text in _strings(source.data.get(key), (key,)):
            try:
                engine.check(text)
            except ExpressionError as exc:
                warnings.append(source.problem(
                    f"invalid expression {text.strip()!r}: {exc.reason.rstrip('.')}; whatever renders it fails "
                    "when it runs (as in Kestra, the flow is still accepted): fix its syntax "
                    "(expressions are written {{ ... }}, tags {% ... %})", path))
    return warnings


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _strings(inner, (*path, str(key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, (*path, index))
