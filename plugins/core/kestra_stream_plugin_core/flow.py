"""The ``flow.*`` tasks: engine primitives (Sleep, Pause, Subflow) and flowables.

A flowable's ``resolve`` only says which shape its children run in; the executor's
``FlowableContext`` owns the semantics of each shape (ordering, errors / finally, states).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from kestra_stream.executor.flowables import Done, FlowableContext, Resolution, allow_failure
from kestra_stream.expressions import is_truthy
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.state import StateType
from kestra_stream.models.task import AnyTask, FlowableTask, PauseTask, SleepTask, SubflowTask, Task
from kestra_stream_plugin_core._base import Props, as_text, condition_text, has_expression


def _with_outputs(resolution: Resolution, outputs: Mapping[str, Any]) -> Resolution:
    if isinstance(resolution, Done):
        return Done(resolution.state, {**(resolution.outputs or {}), **outputs})
    return resolution


def _check_values(value: Any, prop: str) -> Any:
    """A literal text of values must be a JSON array; an expression is checked when it renders."""
    if isinstance(value, str) and not has_expression(value):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list):
            raise ValueError(f"{prop} {value!r} is neither a list, a JSON array as text "
                             f"(such as '[\"a\", \"b\"]') nor an expression")
    return value


# --- engine primitives -------------------------------------------------------------------------


class Sleep(SleepTask):
    """Wait for a duration, then succeed."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Sleep",
        short="flow.Sleep",
        title="Wait for a duration, then succeed.",
        examples=(
            """\
id: sleep
namespace: company.team
tasks:
  - id: sleep
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT5S
""",
        ),
    )


class Pause(PauseTask, FlowableTask):
    """Pause the execution until it is resumed, or for a while; then run ``tasks`` if any (deprecated)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Pause",
        short="flow.Pause",
        aliases=("io.kestra.core.tasks.flows.Pause",),
        title="Pause the execution until it is resumed, or for a while.",
        examples=(
            """\
id: human_in_the_loop
namespace: company.team
tasks:
  - id: wait_for_approval
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
        defaults: true
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "approved={{ outputs.wait_for_approval.onResume.approved }}"
""",
            """\
id: pause_for_a_while
namespace: company.team
tasks:
  - id: pause
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT10M
    behavior: RESUME
""",
        ),
    )

    tasks: list[AnyTask] | None = Field(
        default=None, description="Deprecated: tasks run once the pause ends (put them after the Pause).")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks or ())}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.sequence(self.tasks or [])


class Subflow(SubflowTask):
    """Start an execution of another flow, by default waiting for it to end."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Subflow",
        short="flow.Subflow",
        aliases=("io.kestra.core.tasks.flows.Subflow", "io.kestra.core.tasks.flows.Flow"),
        title="Start an execution of another flow, by default waiting for it to end.",
        examples=(
            """\
id: parent
namespace: company.team
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: child
    inputs:
      n: 21
    wait: true
    transmitFailed: true
""",
        ),
    )


# --- flowables ----------------------------------------------------------------------------------


class Sequential(FlowableTask):
    """Run tasks one after another."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Sequential",
        short="flow.Sequential",
        aliases=("io.kestra.core.tasks.flows.Sequential",),
        title="Run tasks one after another.",
        examples=(
            """\
id: sequential
namespace: company.team
tasks:
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: first
        type: io.kestra.plugin.core.log.Log
        message: first
      - id: second
        type: io.kestra.plugin.core.log.Log
        message: second
""",
        ),
    )

    tasks: list[AnyTask] = Field(description="The tasks to run in order.")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.sequence(self.tasks)


class Parallel(FlowableTask):
    """Run tasks at the same time, at most ``concurrent`` at once."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Parallel",
        short="flow.Parallel",
        aliases=("io.kestra.core.tasks.flows.Parallel",),
        title="Run tasks at the same time, at most `concurrent` at once.",
        examples=(
            """\
id: parallel
namespace: company.team
tasks:
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    concurrent: 2
    tasks:
      - id: a
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT1S
      - id: b
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT1S
      - id: c
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT1S
""",
        ),
    )

    tasks: list[AnyTask] = Field(min_length=1, description="The tasks to run in parallel.")
    concurrent: int = Field(default=0, ge=0, description="How many tasks run at once; 0 means all.")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.parallel(self.tasks, self.concurrent)


class AllowFailure(FlowableTask):
    """Run tasks in order; a failure among them ends this task in WARNING, and the flow goes on."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.AllowFailure",
        short="flow.AllowFailure",
        aliases=("io.kestra.core.tasks.flows.AllowFailure",),
        title="Run tasks in order; a failure among them ends this task in WARNING, and the flow goes on.",
        examples=(
            """\
id: tolerant
namespace: company.team
tasks:
  - id: maybe
    type: io.kestra.plugin.core.flow.AllowFailure
    tasks:
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: still here
""",
        ),
    )

    tasks: list[AnyTask] = Field(min_length=1, description="The tasks allowed to fail.")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return allow_failure(ctx.sequence(self.tasks))


class If(FlowableTask):
    """Run ``then`` when the condition renders true, ``else`` otherwise."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.If",
        short="flow.If",
        aliases=("io.kestra.core.tasks.flows.If",),
        title="Run `then` when the condition renders true, `else` otherwise.",
        examples=(
            """\
id: branch
namespace: company.team
inputs:
  - id: rows
    type: INT
tasks:
  - id: branch
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.rows > 500 }}"
    then:
      - id: proceed
        type: io.kestra.plugin.core.log.Log
        message: quality ok
    else:
      - id: alert
        type: io.kestra.plugin.core.log.Log
        message: row count too low
""",
        ),
    )

    condition: str = Field(description="An expression; `then` runs when it renders true.")
    then: list[AnyTask] = Field(min_length=1, description="The tasks run when the condition is true.")
    else_: list[AnyTask] | None = Field(default=None, alias="else",
                                        description="The tasks run when the condition is false.")

    _condition_text = field_validator("condition", mode="before")(condition_text)

    def branches(self) -> Mapping[str, list[Task]]:
        return {"then": list(self.then), "else": list(self.else_ or ())}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        result = is_truthy(ctx.render_once("evaluationResult", self.condition))
        chosen = self.then if result else (self.else_ or [])
        return _with_outputs(ctx.sequence(chosen), {"evaluationResult": result})


class Switch(FlowableTask):
    """Run the tasks of the case matching a value, or ``defaults`` when none does."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Switch",
        short="flow.Switch",
        aliases=("io.kestra.core.tasks.flows.Switch",),
        title="Run the tasks of the case matching a value, or `defaults` when none does.",
        examples=(
            """\
id: switch
namespace: company.team
inputs:
  - id: kind
    type: SELECT
    values: [A, B, C]
tasks:
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.kind }}"
    cases:
      A:
        - id: on_a
          type: io.kestra.plugin.core.log.Log
          message: got A
      B:
        - id: on_b
          type: io.kestra.plugin.core.log.Log
          message: got B
    defaults:
      - id: on_default
        type: io.kestra.plugin.core.log.Log
        message: something else
""",
        ),
    )

    value: str = Field(min_length=1, description="The value to match against the case keys; rendered.")
    cases: dict[str, list[AnyTask]] | None = Field(default=None,
                                                   description="Tasks by the value they run for.")
    defaults: list[AnyTask] | None = Field(default=None, description="The tasks run when no case matches.")

    _value_text = field_validator("value", mode="before")(condition_text)

    @field_validator("cases", mode="before")
    @classmethod
    def _case_keys_as_text(cls, value: Any) -> Any:
        # YAML reads `true:` or `1:` as a boolean or a number; the rendered value is always text.
        if isinstance(value, Mapping):
            return {as_text(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _cases_or_defaults(self) -> Switch:
        if not self.cases and not self.defaults:
            raise ValueError(f"Switch task '{self.id}' needs `cases`, `defaults` or both")
        return self

    def branches(self) -> Mapping[str, list[Task]]:
        cases = self.cases or {}
        out: dict[str, list[Task]] = {f"cases.{key}": list(tasks) for key, tasks in cases.items()}
        out["defaults"] = list(self.defaults or ())
        return out

    def resolve(self, ctx: FlowableContext) -> Resolution:
        value = as_text(ctx.render_once("value", self.value))
        case = (self.cases or {}).get(value)
        outputs = {"value": value, "defaults": case is None}
        if case is not None:
            return _with_outputs(ctx.sequence(case), outputs)
        if self.defaults is not None:
            return _with_outputs(ctx.sequence(self.defaults), outputs)
        # Kestra fails a Switch that has nothing to run for its value.
        return Done(StateType.FAILED, outputs)


class ForEach(FlowableTask):
    """Run a group of tasks once per value, ``concurrencyLimit`` groups at a time."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.ForEach",
        short="flow.ForEach",
        title="Run a group of tasks once per value, `concurrencyLimit` groups at a time.",
        examples=(
            """\
id: loop
namespace: company.team
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    concurrencyLimit: 1
    tasks:
      - id: item
        type: io.kestra.plugin.core.debug.Return
        format: "item-{{ taskrun.value }}"
""",
        ),
    )

    values: str | list[Any] = Field(description="A list, a JSON array as text, or an expression giving one.")
    concurrency_limit: int = Field(default=1, ge=0,
                                   description="How many value groups run at once; 0 means all.")
    tasks: list[AnyTask] = Field(min_length=1, description="The tasks run for each value, in order.")

    @field_validator("values", mode="after")
    @classmethod
    def _values_shape(cls, value: Any) -> Any:
        return _check_values(value, "values")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.each(ctx.render_once("values", self.values), self.tasks, concurrency=self.concurrency_limit)


class EachSequential(FlowableTask):
    """Run tasks once per value, one value after another (older than ForEach)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.EachSequential",
        short="flow.EachSequential",
        aliases=("io.kestra.core.tasks.flows.EachSequential",),
        title="Run tasks once per value, one value after another (deprecated: use ForEach).",
        deprecated=True,
        examples=(
            """\
id: each_sequential
namespace: company.team
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.EachSequential
    value: ["a", "b"]
    tasks:
      - id: log
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
""",
        ),
    )

    value: str | list[Any] = Field(description="A list, a JSON array as text, or an expression giving one.")
    tasks: list[AnyTask] = Field(min_length=1, description="The tasks run for each value, in order.")

    @field_validator("value", mode="after")
    @classmethod
    def _value_shape(cls, value: Any) -> Any:
        return _check_values(value, "value")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.each(ctx.render_once("values", self.value), self.tasks, concurrency=1)


class EachParallel(FlowableTask):
    """Run tasks once per value, every value's tasks all at the same time (older than ForEach)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.EachParallel",
        short="flow.EachParallel",
        aliases=("io.kestra.core.tasks.flows.EachParallel",),
        title="Run tasks once per value, all at the same time (deprecated: use ForEach).",
        deprecated=True,
        examples=(
            """\
id: each_parallel
namespace: company.team
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.EachParallel
    value: '["d1", "d2", "d3"]'
    tasks:
      - id: log
        type: io.kestra.plugin.core.log.Log
        message: "embedding {{ taskrun.value }}"
""",
        ),
    )

    value: str | list[Any] = Field(description="A list, a JSON array as text, or an expression giving one.")
    concurrent: int = Field(default=0, ge=0, description="How many values run at once; 0 means all.")
    tasks: list[AnyTask] = Field(min_length=1, description="The tasks run for each value, in parallel.")

    @field_validator("value", mode="after")
    @classmethod
    def _value_shape(cls, value: Any) -> Any:
        return _check_values(value, "value")

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.each(ctx.render_once("values", self.value), self.tasks, concurrency=self.concurrent,
                        parallel_tasks=True)


class DagTask(Props):
    """One node of a Dag: a task and the ids of the tasks it waits for."""

    task: AnyTask
    depends_on: list[str] | None = None


class Dag(FlowableTask):
    """Run tasks as a directed acyclic graph: each once all it depends on has succeeded."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.Dag",
        short="flow.Dag",
        aliases=("io.kestra.core.tasks.flows.Dag",),
        title="Run tasks as a directed acyclic graph: each once all it depends on has succeeded.",
        examples=(
            """\
id: dag
namespace: company.team
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task:
          id: extract
          type: io.kestra.plugin.core.log.Log
          message: extract
      - task:
          id: transform
          type: io.kestra.plugin.core.log.Log
          message: transform
        dependsOn: [extract]
      - task:
          id: load
          type: io.kestra.plugin.core.log.Log
          message: load
        dependsOn: [transform]
""",
        ),
    )

    tasks: list[DagTask] = Field(min_length=1, description="The nodes of the graph.")
    concurrent: int = Field(default=0, ge=0, description="How many tasks run at once; 0 means all.")

    @model_validator(mode="after")
    def _acyclic(self) -> Dag:
        ids = [node.task.id for node in self.tasks]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"Dag task '{self.id}' has duplicate task ids: {', '.join(duplicated)}")
        known = set(ids)
        deps = {node.task.id: list(node.depends_on or ()) for node in self.tasks}
        for task_id, needs in deps.items():
            unknown = [d for d in needs if d not in known]
            if unknown:
                raise ValueError(f"Dag task '{self.id}': task '{task_id}' depends on unknown task(s) "
                                 f"{', '.join(map(repr, unknown))}; dependsOn must name tasks of this Dag")
        cycle = _find_cycle(deps)
        if cycle:
            raise ValueError(f"Dag task '{self.id}' has a dependency cycle: {' -> '.join(cycle)}")
        return self

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": [node.task for node in self.tasks]}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        nodes = [(node.task, tuple(node.depends_on or ())) for node in self.tasks]
        return ctx.dag(nodes, self.concurrent)


def _find_cycle(deps: Mapping[str, list[str]]) -> list[str]:
    """A dependency cycle as a path that ends where it starts, or an empty list."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str]:
        if node in done:
            return []
        if node in visiting:
            return [*visiting[visiting.index(node):], node]
        visiting.append(node)
        for dep in deps.get(node, ()):
            found = visit(dep)
            if found:
                return found
        visiting.pop()
        done.add(node)
        return []

    for start in deps:
        found = visit(start)
        if found:
            return found
    return []


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (
    Sleep, Pause, Subflow, Sequential, Parallel, AllowFailure, If, Switch, ForEach, EachSequential, EachParallel, Dag,
)
