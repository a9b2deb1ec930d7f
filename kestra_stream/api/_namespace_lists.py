"""The namespaces the UI offers in its pickers and namespace tree.

    GET /flows/distinct-namespaces?q=   namespaces of the flows that are not deleted (the search index)
    GET /executions/namespaces          namespaces of the flows that can be executed (not disabled)

Only namespaces that hold a flow are listed; a tree's parent namespaces are the client's to derive.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.api._http import json_response, query, services
from kestra_stream.api._routes import ApiRoutes

flow_routes = ApiRoutes("Flows")
execution_routes = ApiRoutes("Executions")


class DistinctNamespacesQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    q: str | None = Field(default=None, description="Only namespaces containing this text")


@flow_routes.route("GET", "/flows/distinct-namespaces", summary="The namespaces that hold flows, sorted",
                   query=DistinctNamespacesQuery, response=list[str])
async def distinct_namespaces(request: web.Request) -> web.StreamResponse:
    """Read from the search index, which lists a flow just deployed shortly after."""
    api = services(request)
    text = query(request, DistinctNamespacesQuery).q
    return json_response(await asyncio.to_thread(api.search.flow_namespaces, text or None))


@execution_routes.route("GET", "/executions/namespaces", summary="The namespaces that hold flows that can be "
                        "executed (not disabled), sorted", response=list[str])
async def executable_namespaces(request: web.Request) -> web.StreamResponse:
    flows = services(request).flows.all_latest()
    return json_response(sorted({f.namespace for f in flows if not f.disabled}))
