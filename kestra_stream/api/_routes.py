"""Endpoints declared with what they read and answer, and the OpenAPI document built from that.

A handler stays a plain aiohttp handler; ``ApiRoutes.route`` records its query model, body type
and answer type next to it. The same declarations are the OpenAPI document (pydantic writes the
JSON schemas), so the document cannot drift from what the handlers parse and return — the
schemathesis test checks the answers against it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from kestra_stream.api._errors import ErrorResponse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Method = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
API_PREFIX = "/api/v1"
# Kestra's open-source edition names its single tenant "main": /api/v1/main/... is /api/v1/...
TENANT_PREFIX = "/api/v1/main"
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]+)?\}")


@dataclass(frozen=True)
class Endpoint:
    method: Method
    path: str  # aiohttp syntax, below /api/v1 unless ``root``
    handler: Handler
    summary: str
    tag: str
    query: type[BaseModel] | None = None
    # A JSON body's type; or a content type ("application/x-yaml", "multipart/form-data", ...) with ``body_schema``.
    body: Any = None
    body_content: str = "application/json"
    body_schema: dict[str, Any] | None = None
    body_required: bool = True
    response: Any = None  # the JSON answer's type; None with ``response_content`` for other answers
    response_content: str = "application/json"
    status: int = 200
    errors: tuple[int, ...] = ()  # every other status it may answer (a 204 too)
    public: bool = False  # no authentication: health checks, webhooks
    root: bool = False  # served at ``path`` itself, not below /api/v1
    # 0 for the endpoint's own path; n for its n-th other path (Kestra 2.x's ``/actions/...``), same handler.
    alias: int = 0

    @property
    def operation_id(self) -> str:
        return self.handler.__name__ if not self.alias else f"{self.handler.__name__}_{self.alias + 1}"

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAM.sub(r"{\1}", self.path if self.root else API_PREFIX + self.path)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


@dataclass
class ApiRoutes:
    """The endpoints of one part of the API (one module, one OpenAPI tag)."""

    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: Method, path: str, *, summary: str, query: type[BaseModel] | None = None,
              body: Any = None, body_content: str = "application/json", body_schema: dict[str, Any] | None = None,
              body_required: bool = True, response: Any = None, response_content: str = "application/json",
              status: int = 200, errors: Sequence[int] = (), public: bool = False,
              root: bool = False, aliases: Sequence[str] = ()) -> Callable[[Handler], Handler]:
        """Declare ``handler`` at ``path``, and at each of ``aliases`` (the same endpoint under another path:
        Kestra 2.x moved execution commands below ``/executions/{executionId}/actions/``)."""
        def register(handler: Handler) -> Handler:
            for alias, where in enumerate((path, *aliases)):
                self.endpoints.append(Endpoint(
                    method=method, path=where, handler=handler, summary=summary, tag=self.tag, query=query,
                    body=body, body_content=body_content, body_schema=body_schema, body_required=body_required,
                    response=response, response_content=response_content, status=status, errors=tuple(errors),
                    public=public, root=root, alias=alias))
            return handler

        return register


class _Schemas:
    """Collects the JSON schemas of every type into ``components/schemas``.

    Requests are described in pydantic's validation mode and answers in its serialization mode;
    a model whose two forms differ gets both, the request one named ``<Model>Input``.
    """

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, type_: Any, *, request: bool = False) -> dict[str, Any]:
        suffix = "Input" if request else ""
        schema = TypeAdapter(type_).json_schema(
            mode="validation" if request else "serialization", by_alias=True,
            ref_template=f"#/components/schemas/{{model}}{suffix}")
        for name, definition in schema.pop("$defs", {}).items():
            self.components.setdefault(f"{name}{suffix}", definition)
        return schema


_ERROR_TEXT = {400: "The request is malformed", 401: "Authentication is required", 404: "Not found",
               408: "The request body came too slowly", 409: "The request conflicts with the current state",
               413: "The request body is too large", 422: "The request is well-formed but invalid"}


def _error_codes(endpoint: Endpoint) -> list[int]:
    codes = {400, 422, *endpoint.errors}
    if not endpoint.public:
        codes.add(401)
    if endpoint.path_params:
        codes.add(404)
    if endpoint.body is not None or endpoint.body_schema is not None:
        codes.update((408, 413))
    codes.discard(endpoint.status)
    return sorted(codes)


def _operation(endpoint: Endpoint, schemas: _Schemas, error_ref: dict[str, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in endpoint.path_params]
    if endpoint.query is not None:
        query_schema = schemas.of(endpoint.query, request=True)
        required = set(query_schema.get("required", ()))
        for name, prop in query_schema.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                               **({"explode": True, "style": "form"} if prop.get("type") == "array" else {})})
    operation: dict[str, Any] = {"operationId": endpoint.operation_id, "summary": endpoint.summary,
                                 "tags": [endpoint.tag], "parameters": parameters}
    if endpoint.body is not None or endpoint.body_schema is not None:
        body_schema = endpoint.body_schema if endpoint.body_schema is not None else schemas.of(endpoint.body,
                                                                                                 request=True)
        operation["requestBody"] = {"required": endpoint.body_required,
                                    "content": {endpoint.body_content: {"schema": body_schema}}}
    answer: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        answer["content"] = {endpoint.response_content: {"schema": schemas.of(endpoint.response)}}
    elif endpoint.response_content != "application/json":
        answer["content"] = {endpoint.response_content: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(endpoint.status): answer}
    for code in _error_codes(endpoint):
        if code < 400:  # another success, without a body (a webhook whose conditions did not hold: 204)
            responses[str(code)] = {"description": "Accepted, nothing to answer"}
            continue
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "Error"),
                                "content": {"application/json": {"schema": error_ref}}}
    operation["responses"] = responses
    if endpoint.public:
        operation["security"] = []
    return operation


def openapi_document(tables: Sequence[ApiRoutes], *, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for every endpoint of ``tables``; tenant paths (/api/v1/main/...) are aliases, not listed."""
    schemas = _Schemas()
    error_ref = schemas.of(ErrorResponse)
    paths: dict[str, dict[str, Any]] = {}
    for table in tables:
        for endpoint in table.endpoints:
            paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = _operation(
                endpoint, schemas, error_ref)
    return {
        "openapi": "3.1.0",
        "info": {"title": "kestra-stream", "version": version,
                 "description": "Kestra's REST API. Every path below /api/v1 is also served below "
                                "/api/v1/main (the tenant form of recent Kestra versions)."},
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": {
            "basicAuth": {"type": "http", "scheme": "basic"},
            "bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "tags": [{"name": tag} for tag in dict.fromkeys(table.tag for table in tables)],
    }
