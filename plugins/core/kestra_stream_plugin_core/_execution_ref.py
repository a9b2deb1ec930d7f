"""Tasks that act on an execution: the current one, or one named by ``executionId`` (Kestra's rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from pydantic import Field, model_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import RunContext, RunnableTask


@runtime_checkable
class Services(Protocol):
    """What the worker's run context offers of ``kestra_stream.worker.services.TaskServices``."""

    async def execution_logs(self, execution_id: str) -> list[LogEntry]: ...
    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None: ...


class Target(NamedTuple):
    namespace: str
    flow_id: str
    execution_id: str


class ExecutionTask(RunnableTask):
    namespace: str | None = Field(default=None, description="The namespace of the execution's flow, when "
                                  "`executionId` is set (with `flowId`); rendered.")
    flow_id: str | None = Field(default=None, description="The flow of the execution, when `executionId` is set "
                                "(with `namespace`); rendered.")
    execution_id: str | None = Field(default=None, description="The execution to act on (the current one by "
                                     "default), of the current flow unless `namespace` and `flowId` are set; "
                                     "rendered.")

    @model_validator(mode="after")
    def _execution_coordinates(self) -> ExecutionTask:
        if self.execution_id is not None and (self.namespace is None) != (self.flow_id is None):
            raise ValueError("Both `namespace` and `flowId` must be set when `executionId` is set.")
        if self.execution_id is None and (self.namespace is not None or self.flow_id is not None):
            raise ValueError("`namespace` and `flowId` should only be set when `executionId` is set.")
        return self

    def target(self, ctx: RunContext) -> Target:
        flow = ctx.variables["flow"]
        if self.execution_id is None:
            return Target(str(flow["namespace"]), str(flow["id"]), ctx.execution_id)
        return Target(str(flow["namespace"]) if self.namespace is None else ctx.render_string(self.namespace),
                      str(flow["id"]) if self.flow_id is None else ctx.render_string(self.flow_id),
                      ctx.render_string(self.execution_id))

    def services(self, ctx: RunContext) -> Services:
        if not isinstance(ctx, Services):
            raise TaskFailure(f"{self.type} needs a worker's run context, which reaches other executions",
                              task_id=self.id)
        return ctx
