"""An execution seen through its flow: the flow at the revision it ran, and its topology with each
task coloured by the state of its runs (Kestra's ``/executions/{id}/flow`` and ``/executions/{id}/graph``).

The revision an execution ran stays readable after the flow changed or was deleted: it is looked up
among every revision of the flow, not as the flow's latest.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.api._executions import find_execution
from kestra_stream.api._flows import FlowOut, flow_out
from kestra_stream.api._http import json_response, query, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.api._templates import with_templates
from kestra_stream.errors import NotFoundError
from kestra_stream.flows._graph import FlowGraph, execution_graph
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow

routes = ApiRoutes("Executions")


async def executed_flow(request: web.Request, execution: Execution) -> Flow:
    revisions = await asyncio.to_thread(services(request).flows.revisions, execution.namespace, execution.flow_id)
    for flow in revisions:
        if flow.revision == execution.flow_revision:
            return flow
    raise NotFoundError(f"revision {execution.flow_revision} of flow '{execution.namespace}.{execution.flow_id}', "
                        f"which execution '{execution.id}' ran, is not kept any more")


@routes.route("GET", "/executions/{executionId}/flow", summary="The flow at the revision the execution ran, with "
              "its YAML source", response=FlowOut)
async def flow_of_execution(request: web.Request) -> web.StreamResponse:
    execution = await find_execution(request, request.match_info["executionId"])
    return _flow_answer(await executed_flow(request, execution))


class RevisionQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    revision: int | None = Field(default=None, ge=1, description="A revision of the flow; the latest by default")


@routes.route("GET", "/executions/flows/{namespace}/{flowId}", summary="A flow as an execution of it would run it, "
              "with its YAML source", query=RevisionQuery, response=FlowOut)
async def flow_for_execution(request: web.Request) -> web.StreamResponse:
    revision = query(request, RevisionQuery).revision
    flow = services(request).flows.get(request.match_info["namespace"], request.match_info["flowId"], revision)[0]
    return _flow_answer(flow)


def _flow_answer(flow: Flow) -> web.Response:
    return json_response(flow_out(flow, source=True).model_dump(mode="json", by_alias=True, exclude_none=True))


@routes.route("GET", "/executions/{executionId}/graph", summary="The topology of the flow the execution ran, each "
              "task with its latest run and the state of its runs", response=FlowGraph)
async def graph_of_execution(request: web.Request) -> web.StreamResponse:
    execution = await find_execution(request, request.match_info["executionId"])
    graph = execution_graph(await with_templates(request, await executed_flow(request, execution)), execution)
    return json_response(graph.model_dump(mode="json", by_alias=True, exclude_none=True))
