"""Health, readiness, the server's configuration and its Prometheus metrics.

    GET /health, /health/liveness        the process answers (public)
    GET /health/readiness, /health/ready  the backend, search and storage answer: 200, or 503 naming
                                          each part that does not (public; a load balancer's probe)
    GET /api/v1/configs                  Kestra's MiscController configuration (public, as in Kestra:
                                          the UI reads it before anyone logs in); never a secret
    GET /metrics                         Prometheus exposition of the application's own registry
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError, ErrorDetail
from kestra_stream.api._http import json_response, services
from kestra_stream.api._metrics import METRICS
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.api._services import ApiServices
from kestra_stream.search import FlowQuery, Paging
from kestra_stream.storage import PREFIX

__all__ = ["READINESS_TIMEOUT_SECONDS", "ComponentHealth", "Configuration", "Health", "routes"]

log = structlog.get_logger(__name__)
routes = ApiRoutes("System")

READINESS_TIMEOUT_SECONDS = 5.0
# A URI no file is ever written at: asking whether it exists proves storage answers.
_STORAGE_PROBE = PREFIX + "/_readiness/probe"
_METRICS_CONTENT = "text/plain"

_OUT = ConfigDict(frozen=True, alias_generator=to_camel, serialize_by_alias=True, validate_by_name=True)


class ComponentHealth(BaseModel):
    model_config = _OUT

    status: Literal["UP", "DOWN"]


class Health(BaseModel):
    """Micronaut's health answer, as Kestra's management endpoint gives it."""

    model_config = _OUT

    name: str = "kestra-stream"
    status: Literal["UP", "DOWN"]
    details: dict[str, ComponentHealth] = {}


class Preview(BaseModel):
    model_config = _OUT

    initial: int = 100
    max: int = 5000


class Configuration(BaseModel):
    """What the UI and scripts learn about the server (Kestra's ``MiscController.Configuration``)."""

    model_config = _OUT

    version: str
    commit_id: str | None = None
    is_custom_dashboards_enabled: bool = False
    # Task runs are searched inside executions here, not as documents of their own.
    is_task_run_enabled: bool = False
    is_anonymous_usage_enabled: bool = False
    is_template_enabled: bool = False
    is_basic_auth_enabled: bool
    preview: Preview = Preview()
    system_namespace: str = "system"
    hidden_labels_prefixes: list[str] = []
    # Ours: "embedded" (SQLite) or "kafka" (Kafka, Elasticsearch).
    backend: str


def _version() -> str:
    try:
        return version("kestra-stream")
    except PackageNotFoundError:
        return "0.0.0"


@routes.route("GET", "/health", summary="Liveness: the server process answers", response=Health, public=True,
              root=True)
async def health(_request: web.Request) -> web.StreamResponse:
    return json_response(Health(status="UP"))


@routes.route("GET", "/health/liveness", summary="Liveness: the server process answers", response=Health,
              public=True, root=True)
async def health_liveness(_request: web.Request) -> web.StreamResponse:
    return json_response(Health(status="UP"))


async def _check_backend(api: ApiServices) -> None:
    # The embedded engine reads its SQLite store for an unknown id; the Kafka client its state table.
    api.backend.state("readiness-probe")


async def _check_search(api: ApiServices) -> None:
    await asyncio.to_thread(api.search.search_flows, FlowQuery(paging=Paging(size=1)))


async def _check_storage(api: ApiServices) -> None:
    await api.storage.exists(_STORAGE_PROBE)


_CHECKS: dict[str, Callable[[ApiServices], Awaitable[None]]] = {
    "backend": _check_backend, "search": _check_search, "storage": _check_storage}


async def _probe(name: str, check: Callable[[ApiServices], Awaitable[None]], api: ApiServices) -> str | None:
    """``None`` when the part answered in time, else why not."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            await check(api)
    except TimeoutError:
        return f"{name} did not answer within {READINESS_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # any failure means not ready: reported, not raised
        log.warning("readiness_check_failed", component=name, error=str(exc))
        return f"{name} failed: {type(exc).__name__}: {exc}"
    return None


async def _readiness(request: web.Request) -> web.StreamResponse:
    api = services(request)
    names = list(_CHECKS)
    problems = await asyncio.gather(*(_probe(name, _CHECKS[name], api) for name in names))
    failed = [ErrorDetail(message=problem, path=name) for name, problem in zip(names, problems, strict=True)
              if problem is not None]
    if failed:
        raise ApiError(503, "not ready: " + "; ".join(d.message for d in failed), failed)
    return json_response(Health(status="UP", details={name: ComponentHealth(status="UP") for name in names}))


@routes.route("GET", "/health/readiness", summary="Readiness: the backend, search and storage answer; 503 if not",
              response=Health, errors=(503,), public=True, root=True)
async def health_readiness(request: web.Request) -> web.StreamResponse:
    return await _readiness(request)


@routes.route("GET", "/health/ready", summary="Readiness (alias of /health/readiness)", response=Health,
              errors=(503,), public=True, root=True)
async def health_ready(request: web.Request) -> web.StreamResponse:
    return await _readiness(request)


@routes.route("GET", "/configs", summary="The server's configuration", response=Configuration, public=True)
async def configs(request: web.Request) -> web.StreamResponse:
    api = services(request)
    return json_response(Configuration(version=_version(), is_basic_auth_enabled=bool(api.settings.basic_auth),
                                       backend=api.backend_name))


@routes.route("GET", "/metrics", summary="Prometheus metrics of the API and of the executions it sees",
              response_content=_METRICS_CONTENT, errors=(503,), root=True)
async def metrics(request: web.Request) -> web.StreamResponse:
    installed = request.config_dict.get(METRICS)
    if installed is None:
        raise ApiError(503, "metrics are not installed on this application: build it with "
                            "kestra_stream.api.create_app (which calls install_metrics)")
    body = await asyncio.to_thread(installed.exposition)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
