"""The topology of a flow, for the UI's graph: of a deployed revision, or of a YAML source being edited.

The answer is Kestra's FlowGraph (see ``kestra_stream.flows.flow_graph``). A source that is not a
valid flow answers 422 with the problems ``POST /flows/validate`` lists, each at its line.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.api._http import json_response, query, read_text, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.api._templates import with_templates
from kestra_stream.flows._graph import FlowGraph, flow_graph

routes = ApiRoutes("Flows")

_YAML_BODY: dict[str, Any] = {"type": "string", "description": "A flow in Kestra's YAML"}


class GraphQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    revision: int | None = Field(default=None, ge=1, description="A revision of the flow; the latest by default")


def _answer(graph: FlowGraph) -> web.Response:
    return json_response(graph.model_dump(mode="json", by_alias=True, exclude_none=True))


@routes.route("POST", "/flows/graph", summary="The topology of a flow's YAML source (not saved)",
              body_content="application/x-yaml", body_schema=_YAML_BODY, response=FlowGraph)
async def graph_of_source(request: web.Request) -> web.StreamResponse:
    flows = services(request).flows
    return _answer(flow_graph(await with_templates(request, flows.parse(await read_text(request)))))


@routes.route("GET", "/flows/{namespace}/{id}/graph", summary="The topology of a flow (a revision with "
              "`revision`)", query=GraphQuery, response=FlowGraph)
async def graph_of_flow(request: web.Request) -> web.StreamResponse:
    flows = services(request).flows
    revision = query(request, GraphQuery).revision
    flow = flows.get(request.match_info["namespace"], request.match_info["id"], revision)[0]
    return _answer(flow_graph(await with_templates(request, flow)))
