"""Templates injected into a flow where the executor reads it (Kestra's ``Template.injectTemplate``).

``inject_templates`` is pure: given what was found for each template a flow names, it returns the
flow whose ``flow.Template`` tasks each carry their template (nested templates too), or the reason
there is none, which the task fails with when it runs (``Can't find flow template 'ns.id'``). A
template whose task ids are already used elsewhere in the flow is refused the same way: the executor
finds task runs' tasks by id.

``TemplateInjector`` is the executor's adapter: it reads the templates a flow names from the store
each time the flow is read, as Kestra does (an execution sees a template's changes from its next
event on), and costs nothing for a flow without ``flow.Template`` tasks (which it remembers per flow).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from kestra_stream.errors import FlowValidationError
from kestra_stream.models.flow import Flow
from kestra_stream.models.task import FlowableTask, Task
from kestra_stream.models.template import FlowTemplate, Included, TemplateTask
from kestra_stream.templates._store import TemplateStore

# Templates including templates: deeper than this is a template that includes itself.
MAX_DEPTH = 10
_CACHE_SIZE = 256
M = TypeVar("M", bound=BaseModel)
# What replaces a task while a model is rewritten: its replacement, or None to walk into it.
Replace = Callable[[Task], Task | None]


def not_found(uid: str) -> str:
    return f"Can't find flow template '{uid}'"


def template_tasks(tasks: Iterable[Task]) -> list[TemplateTask]:
    """The ``flow.Template`` tasks among ``tasks`` and their children, at any depth, not injected yet."""
    out: list[TemplateTask] = []
    for task in tasks:
        if isinstance(task, TemplateTask) and task.included is None:
            out.append(task)
        if isinstance(task, FlowableTask):  # a Template task's own errors may include templates too
            out += template_tasks(task.child_tasks())
    return out


def _flow_tasks(flow: Flow) -> list[Task]:
    return [*flow.tasks, *(flow.errors or ()), *(flow.finally_ or ()), *(flow.after_execution or ()),
            *flow.listener_tasks()]


def inject_templates(flow: Flow, found: Mapping[str, Included]) -> Flow:
    """``flow`` with each Template task carrying what ``found`` holds for its template (by ``ns.id``)."""
    injected = _rewrite_model(flow, lambda task: _include(task, found, 0, frozenset()))
    clashes = _clashing_templates(injected)
    if clashes:
        refused = {**found, **clashes}
        injected = _rewrite_model(flow, lambda task: _include(task, refused, 0, frozenset()))
    return injected


def _include(task: Task, found: Mapping[str, Included], depth: int, within: frozenset[str]) -> Task | None:
    """The injected copy of a Template task; None for any other task (its children are walked)."""
    if not isinstance(task, TemplateTask) or task.included is not None:
        return None
    # Its own errors first: they may include templates too, at this depth.
    task = _rewrite_model(task, lambda child: _include(child, found, depth, within))
    uid = task.template_uid
    included = found.get(uid) or Included(None, not_found(uid))
    template = included.template
    if template is not None and (uid in within or depth >= MAX_DEPTH):
        included = Included(None, f"{not_found(uid)}: it includes itself (through {' > '.join(sorted(within))})")
    elif template is not None:
        inner = within | {uid}
        nested = _rewrite_model(template, lambda child: _include(child, found, depth + 1, inner))
        included = Included(nested)
    return task.including(included)


def _clashing_templates(flow: Flow) -> dict[str, Included]:
    """Templates whose tasks' ids are used elsewhere in the flow (or by a second inclusion of them)."""
    seen: dict[str, int] = {}
    for task in flow.all_tasks():
        seen[task.id] = seen.get(task.id, 0) + 1
    refused: dict[str, Included] = {}
    for task in flow.all_tasks():
        if isinstance(task, TemplateTask) and task.included is not None and task.included.template is not None:
            inside = [t.id for t in _all_children(task)]
            twice = sorted({i for i in inside if seen[i] > 1})
            if twice:
                refused[task.template_uid] = Included(None, (
                    f"{not_found(task.template_uid)}: its task ids {', '.join(twice)} are used more than once in "
                    f"flow {flow.uid}; rename them (each task id is unique within a flow, its templates included)"))
    return refused


def _all_children(task: FlowableTask) -> list[Task]:
    out: list[Task] = []
    for child in task.child_tasks():
        out.append(child)
        if isinstance(child, FlowableTask):
            out += _all_children(child)
    return out


def _rewrite(value: Any, replace: Replace) -> Any:
    """``value`` with every task ``replace`` answers for replaced (models, lists and maps walked), or itself."""
    if isinstance(value, Task):
        replaced = replace(value)
        return replaced if replaced is not None else _rewrite_model(value, replace)
    if isinstance(value, BaseModel):
        return _rewrite_model(value, replace)
    if isinstance(value, list):
        items = [_rewrite(item, replace) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        entries = {key: _rewrite(item, replace) for key, item in value.items()}
        return entries if any(entries[k] is not value[k] for k in value) else value
    return value


def _rewrite_model(model: M, replace: Replace) -> M:
    changes: dict[str, Any] = {}
    for name in type(model).model_fields:
        current = getattr(model, name)
        new = _rewrite(current, replace)
        if new is not current:
            changes[name] = new
    return model.model_copy(update=changes) if changes else model


class TemplateInjector:
    """The executor's adapter: ``await inject(flow)`` is the flow to fold with."""

    def __init__(self, store: TemplateStore) -> None:
        self.store = store
        # id(flow) -> (flow, whether it has Template tasks): flows are immutable per revision; keeping the flow
        # itself means its id() is not reused while cached.
        self._has: OrderedDict[int, tuple[Flow, bool]] = OrderedDict()
        # (id(flow), the sources read) -> (flow, injected): the same templates give the same flow object, whose
        # task index the executor then builds once.
        self._injected: OrderedDict[tuple[int, tuple[tuple[str, str | None], ...]], tuple[Flow, Flow]] = OrderedDict()

    def _with_templates(self, flow: Flow) -> bool:
        hit = self._has.get(id(flow))
        if hit is not None and hit[0] is flow:
            return hit[1]
        has = bool(template_tasks(_flow_tasks(flow)))
        _remember(self._has, id(flow), (flow, has))
        return has

    async def inject(self, flow: Flow) -> Flow:
        if not self._with_templates(flow):
            return flow
        found: dict[str, Included] = {}
        sources: dict[str, str | None] = {}
        pending = template_tasks(_flow_tasks(flow))
        while pending:
            task = pending.pop()
            uid = task.template_uid
            if uid in found:
                continue
            source = await self.store.source(task.namespace, task.template_id)
            sources[uid] = source
            found[uid] = self._included(uid, source)
            template = found[uid].template
            if template is not None:
                pending += template_tasks([*template.tasks, *(template.errors or ())])
        key = (id(flow), tuple(sorted(sources.items())))
        hit = self._injected.get(key)
        if hit is not None and hit[0] is flow:
            return hit[1]
        injected = inject_templates(flow, found)
        _remember(self._injected, key, (flow, injected))
        return injected

    def _included(self, uid: str, source: str | None) -> Included:
        if source is None:
            return Included(None, not_found(uid))
        try:
            template: FlowTemplate = self.store.parse(source, file=uid)
        except FlowValidationError as exc:
            return Included(None, f"{not_found(uid)}: the stored template is invalid: {exc}")
        if template.uid != uid:
            return Included(None, f"{not_found(uid)}: the template stored under that name is {template.uid}")
        return Included(template)


K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
