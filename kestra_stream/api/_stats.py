"""Statistics over executions, read from the search index (aggregations, never every document).

``/stats/executions/latest/group-by-flow``: the most recently started execution of each flow, the
state the flow list shows beside each flow. Kestra's own form is a POST naming the flows; the
GET form takes a namespace instead, for a page that lists a namespace's flows.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.api._http import json_response, query, read_json, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.models.execution import Execution
from kestra_stream.search import MAX_PAGE_SIZE

routes = ApiRoutes("Stats")

_LATEST = "/stats/executions/latest/group-by-flow"


class LatestQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    namespace: str | None = Field(default=None, description="Flows of this namespace and the ones below it")


class FlowRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str = Field(min_length=1)
    id: str = Field(min_length=1)


class LatestRequest(BaseModel):
    """Kestra's LastExecutionsRequest: the flows to answer for (every flow when left out)."""

    model_config = ConfigDict(frozen=True)

    flows: list[FlowRef] | None = Field(default=None, max_length=MAX_PAGE_SIZE,
                                        description="At most a page of flows (1000)")


@routes.route("GET", _LATEST, summary="The latest execution of each flow", query=LatestQuery,
              response=list[Execution])
async def latest_by_flow(request: web.Request) -> web.StreamResponse:
    api = services(request)
    namespace = query(request, LatestQuery).namespace
    return json_response(await asyncio.to_thread(api.search.latest_executions, namespace or None))


@routes.route("POST", _LATEST, summary="The latest execution of each of the flows named", body=LatestRequest,
              response=list[Execution])
async def latest_of_flows(request: web.Request) -> web.StreamResponse:
    api = services(request)
    wanted: LatestRequest = await read_json(request, LatestRequest)
    pairs = [(f.namespace, f.id) for f in wanted.flows or ()]
    return json_response(await asyncio.to_thread(api.search.latest_executions, None, pairs))
