"""Tasks on the stored history of executions: ``execution.Count``, ``execution.PurgeExecutions`` and
``log.PurgeLogs``.

They reach the backend's store of executions through the worker's services: the embedded
engine's SQLite file, or Elasticsearch on Kafka (a worker given ``--elasticsearch-url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field, field_validator, model_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream.plugins.spi import Props
from kestra_stream.search import CountQuery, ExecutionPurge, FlowExecutions, LogPurge, Purged


@runtime_checkable
class _History(Protocol):
    """What the worker's run context offers of ``TaskServices`` for the history of executions."""

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]: ...
    async def purge_executions(self, purge: ExecutionPurge) -> Purged: ...
    async def purge_logs(self, purge: LogPurge) -> int: ...
    def render_with(self, value: Any, extra: Mapping[str, Any]) -> Any: ...


def _history(task: RunnableTask, ctx: RunContext) -> _History:
    if not isinstance(ctx, _History):
        raise TaskFailure(f"{task.type} needs a worker's run context, which reaches the stored executions",
                          task_id=task.id)
    return ctx


def _date(task: RunnableTask, ctx: RunContext, name: str, template: str) -> datetime:
    """A date property rendered, read as Kestra's ``ZonedDateTime.parse`` reads it (ISO 8601 with an offset)."""
    rendered = ctx.render(template)
    if isinstance(rendered, datetime):
        moment = rendered
    else:
        text = str(rendered).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise TaskFailure(f"`{name}` of task '{task.id}' rendered to {text!r}, which is not an ISO 8601 date "
                              "such as 2025-01-31T08:00:00Z or {{ now() | dateAdd(-1, 'DAYS') }}",
                              task_id=task.id) from exc
    if moment.tzinfo is None:
        raise TaskFailure(f"`{name}` of task '{task.id}' ({moment.isoformat()}) has no time zone: give it an offset "
                          "(2025-01-31T08:00:00Z, +01:00), as {{ now() }} renders", task_id=task.id)
    return moment


def _states(value: Any) -> Any:
    return [str(state).upper() for state in value] if isinstance(value, list) else value


class CountedFlow(Props):
    namespace: str = Field(description="The namespace of the flow.")
    flow_id: str = Field(description="The id of the flow.")


class Count(RunnableTask):
    """Count the executions of flows (or of namespaces) started in a date range, and keep the counts an
    expression accepts: an alert when a flow has not run, say."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.execution.Count",
        short="execution.Count",
        aliases=("io.kestra.core.tasks.executions.Counts",),
        title="Count the executions of flows or namespaces, kept where an expression renders true.",
        examples=(
            """\
id: executions_count
namespace: company.team
tasks:
  - id: counts
    type: io.kestra.plugin.core.execution.Count
    expression: "{{ count == 0 }}"
    flows:
      - namespace: company.team
        flowId: logs
    startDate: "{{ now() | dateAdd(-1, 'DAYS') }}"
""",
        ),
    )

    flows: list[CountedFlow] | None = Field(default=None, description="The flows to count the executions of "
                                            "(each in the results, with 0 when it has none); without it, "
                                            "`namespaces` must be set.")
    namespaces: list[str] | None = Field(default=None, description="Namespaces to count the executions of, "
                                         "exactly (not their children): one result per namespace with executions.")
    states: list[StateType] | None = Field(default=None, description="Only executions in one of these states.")
    start_date: str = Field(description="Executions started at or after this date (ISO 8601); rendered.")
    end_date: str | None = Field(default=None, description="Executions started at or before this date (now by "
                                 "default); rendered.")
    expression: str = Field(description="Rendered for each result with its `count`: the result is kept when it "
                            "renders true, such as `{{ count == 0 }}`.")

    _state_names = field_validator("states", mode="before")(_states)

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        history = _history(self, ctx)
        if self.flows is None and self.namespaces is None:
            raise TaskFailure("You must provide a list of flows or namespaces", task_id=self.id)
        flows = [(flow.namespace, flow.flow_id) for flow in self.flows or ()]
        query = CountQuery(
            start_date=_date(self, ctx, "startDate", self.start_date),
            end_date=datetime.now(UTC) if self.end_date is None else _date(self, ctx, "endDate", self.end_date),
            flows=tuple(flows), namespaces=tuple(self.namespaces or ()),
            states=frozenset(self.states) if self.states is not None else None)
        counted = await history.count_executions(query)
        found = {(c.namespace, c.flow_id): c.count for c in counted}
        # Kestra's rows: every flow asked for (0 without executions), then each namespace with executions,
        # summed over every flow counted in it.
        rows: list[dict[str, Any]] = [{"namespace": ns, "flowId": flow_id, "count": found.get((ns, flow_id), 0)}
                                      for ns, flow_id in flows]
        if self.namespaces is not None:
            totals: dict[str, int] = {}
            for c in counted:
                totals[c.namespace] = totals.get(c.namespace, 0) + c.count
            rows += [{"namespace": ns, "count": n} for ns, n in sorted(totals.items())]
        kept = [row for row in rows if _true(history.render_with(self.expression, {"count": row["count"]}))]
        return {"results": kept, "total": sum(row["count"] for row in kept)}


def _true(rendered: Any) -> bool:
    # Kestra keeps a row when the expression renders exactly "true".
    return rendered is True or (isinstance(rendered, str) and rendered.strip() == "true")


class PurgeExecutions(RunnableTask):
    """Purge ended executions, with their logs and their files in internal storage."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.execution.PurgeExecutions",
        short="execution.PurgeExecutions",
        aliases=("io.kestra.core.tasks.storages.Purge", "io.kestra.plugin.core.storage.Purge"),
        title="Purge executions, their logs and their storage files.",
        examples=(
            """\
id: purge
namespace: system
tasks:
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    endDate: "{{ now() | dateAdd(-1, 'MONTHS') }}"
    states: [KILLED, FAILED, WARNING, SUCCESS]
""",
        ),
    )

    namespace: str | None = Field(default=None, description="The namespace whose executions are purged, its "
                                  "children's included; with `flowId`, the namespace of that flow. Rendered.")
    flow_id: str | None = Field(default=None, description="Only the executions of this flow; rendered.")
    start_date: str | None = Field(default=None, description="Only executions started at or after this date "
                                   "(ISO 8601); rendered.")
    end_date: str = Field(description="Only executions ended at or before this date (ISO 8601); rendered. An "
                          "execution still going on is never purged.")
    states: list[StateType] | None = Field(default=None, description="Only executions in one of these states.")
    purge_execution: bool = Field(default=True, description="Delete the executions.")
    purge_log: bool = Field(default=True, description="Delete the executions' log lines.")
    purge_metric: bool = Field(default=True, description="Delete the executions' metrics: kestra-stream keeps no "
                               "task metrics, so there are none (`metricsCount` is 0).")
    purge_storage: bool = Field(default=True, description="Delete the executions' files from internal storage.")

    _state_names = field_validator("states", mode="before")(_states)

    @model_validator(mode="after")
    def _logs_go_with_executions(self) -> PurgeExecutions:
        if self.purge_execution and not self.purge_log:
            raise ValueError("`purgeLog: false` with `purgeExecution: true` is not implemented by kestra-stream: a "
                             "deleted execution's log lines leave the search index with it; purge the logs too, "
                             "or keep the executions (`purgeExecution: false`)")
        return self

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        history = _history(self, ctx)
        purged = await history.purge_executions(ExecutionPurge(
            end_date=_date(self, ctx, "endDate", self.end_date),
            start_date=None if self.start_date is None else _date(self, ctx, "startDate", self.start_date),
            namespace=None if self.namespace is None else ctx.render_string(self.namespace),
            flow_id=None if self.flow_id is None else ctx.render_string(self.flow_id),
            states=frozenset(self.states) if self.states is not None else None,
            executions=self.purge_execution, logs=self.purge_log, storage=self.purge_storage))
        return {"executionsCount": purged.executions, "logsCount": purged.logs,
                "storagesCount": purged.storage_files, "metricsCount": 0}


class PurgeLogs(RunnableTask):
    """Purge log lines of executions and triggers by date, namespace, flow and level."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.log.PurgeLogs",
        short="log.PurgeLogs",
        title="Purge execution and trigger logs.",
        examples=(
            """\
id: purge_logs
namespace: system
tasks:
  - id: purge
    type: io.kestra.plugin.core.log.PurgeLogs
    endDate: "{{ now() | dateAdd(-1, 'MONTHS') }}"
    logLevels: [TRACE, DEBUG, INFO, WARN]
""",
        ),
    )

    namespace: str | None = Field(default=None, description="The namespace whose logs are purged, its "
                                  "children's included; with `flowId`, the namespace of that flow. Rendered.")
    flow_id: str | None = Field(default=None, description="Only the logs of this flow; rendered.")
    log_levels: list[LogLevel] | None = Field(default=None, description="Only the lines of these levels (any "
                                              "level by default).")
    start_date: str | None = Field(default=None, description="Only lines written at or after this date "
                                   "(ISO 8601); rendered.")
    end_date: str = Field(description="Only lines written at or before this date (ISO 8601); rendered.")

    @field_validator("log_levels", mode="before")
    @classmethod
    def _level_names(cls, value: Any) -> Any:
        return [LogLevel.parse(str(level)) for level in value] if isinstance(value, list) else value

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        history = _history(self, ctx)
        count = await history.purge_logs(LogPurge(
            end_date=_date(self, ctx, "endDate", self.end_date),
            start_date=None if self.start_date is None else _date(self, ctx, "startDate", self.start_date),
            namespace=None if self.namespace is None else ctx.render_string(self.namespace),
            flow_id=None if self.flow_id is None else ctx.render_string(self.flow_id),
            levels=frozenset(self.log_levels) if self.log_levels is not None else None))
        return {"count": count}


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Count, PurgeExecutions, PurgeLogs)
