"""``create_app``: the aiohttp application, its routes under /api/v1 and /api/v1/main, the
OpenAPI document at ``/api/v1/openapi.json`` (also ``/openapi.json``) and the web UI at ``/ui/``."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from kestra_stream.api import (
    _execution_bulk,
    _execution_files,
    _execution_views,
    _executions,
    _flow_schema,
    _flows,
    _graph,
    _kv,
    _logs,
    _namespace_lists,
    _namespaces,
    _plugins,
    _stats,
    _system,
    _templates,
    _triggers,
    _webhooks,
)
from kestra_stream.api._auth import PUBLIC_HANDLERS, auth_middleware
from kestra_stream.api._errors import error_middleware
from kestra_stream.api._http import SERVICES, json_response
from kestra_stream.api._metrics import install_metrics
from kestra_stream.api._routes import API_PREFIX, TENANT_PREFIX, ApiRoutes, Endpoint, Handler, openapi_document
from kestra_stream.api._services import ApiServices
from kestra_stream.api._ui import UI_DIST, install_ui

ROUTE_TABLES: tuple[ApiRoutes, ...] = (
    _flows.routes, _executions.routes, _execution_bulk.routes, _execution_files.routes, _execution_views.routes,
    _webhooks.routes, _logs.routes,
    _triggers.routes, _kv.routes, _namespaces.routes, _plugins.routes, _system.routes, _namespace_lists.flow_routes,
    _namespace_lists.execution_routes, _stats.routes, _graph.routes,
    _flow_schema.routes, _templates.routes)
OPENAPI_PATH = "/api/v1/openapi.json"


def _version() -> str:
    try:
        return version("kestra-stream")
    except PackageNotFoundError:
        return "0.0.0"


def _specificity(endpoint: Endpoint) -> tuple[bool, ...]:
    """Sorts a path before every path that has a variable where it has a fixed segment.

    aiohttp tries routes in the order they were added: ``/flows/distinct-namespaces`` must come
    before ``/flows/{namespace}``, whichever module declares it.
    """
    return tuple(segment.startswith("{") for segment in endpoint.path.split("/"))


def create_app(services: ApiServices, *, tables: Sequence[ApiRoutes] = ROUTE_TABLES,
               ui_dist: Path = UI_DIST) -> web.Application:
    settings = services.settings
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[error_middleware, auth_middleware(settings)])
    app[SERVICES] = services
    document = openapi_document(tables, version=_version())

    async def openapi(_request: web.Request) -> web.StreamResponse:
        return json_response(document)

    public: set[Handler] = {openapi}
    endpoints = sorted((e for table in tables for e in table.endpoints if not e.root), key=_specificity)
    for prefix in (TENANT_PREFIX, API_PREFIX):  # the longer prefix first: it would match the shorter one
        sub = web.Application()
        for endpoint in endpoints:
            sub.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
        app.add_subapp(prefix, sub)
    for table in tables:
        for endpoint in table.endpoints:
            if endpoint.public:
                public.add(endpoint.handler)
            if endpoint.root:
                app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
    app.router.add_get(OPENAPI_PATH, openapi)
    app.router.add_get("/openapi.json", openapi)
    install_ui(app, ui_dist)
    app[PUBLIC_HANDLERS] = frozenset(public)
    install_metrics(app, services)
    return app
