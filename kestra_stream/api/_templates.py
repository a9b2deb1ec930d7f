"""Kestra's deprecated flow templates (its TemplateController), kept in internal storage.

    POST   /templates                         create (YAML or JSON body); 422 when it exists
    GET    /templates/{namespace}/{id}        the template; 404 when there is none
    PUT    /templates/{namespace}/{id}        replace it (the body keeps its namespace and id); 404 when there is none
    DELETE /templates/{namespace}/{id}        204; 404 when there is none
    GET    /templates/search                  a page of templates (``namespace`` prefix, ``q`` text in id or namespace)

Every endpoint answers 404 saying how to turn templates on while they are off
(``KESTRA_STREAM_TEMPLATES_ENABLED``), as Kestra has no template endpoints then. Internal storage
cannot list its namespaces without walking every execution's files, so a search reads the namespace
it is given and the namespaces holding a flow (and their parents) below it.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError, ErrorDetail
from kestra_stream.api._http import json_response, query, read_text, services
from kestra_stream.api._namespaces import checked_namespace
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.errors import FlowValidationError
from kestra_stream.models.flow import Flow
from kestra_stream.models.template import TEMPLATE_ID_PATTERN, FlowTemplate
from kestra_stream.templates import ENV_ENABLED, TemplateInjector, TemplateStore, templates_enabled

__all__ = ["TemplateOut", "TemplatePage", "routes", "with_templates"]

routes = ApiRoutes("Templates")

_BODY: dict[str, Any] = {"type": "string", "description": "A template in Kestra's YAML (or as JSON): namespace, id, "
                                                          "description, tasks, errors"}
_CONTENT = "application/x-yaml"
_ID = re.compile(TEMPLATE_ID_PATTERN)
_OUT = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                  serialize_by_alias=True, extra="ignore")


class TemplateOut(BaseModel):
    """A template as Kestra's API answers it; tasks are plugin-specific objects (``GET /plugins/{type}``)."""

    model_config = _OUT

    id: str
    namespace: str
    description: str | None = None
    tasks: list[dict[str, Any]]
    errors: list[dict[str, Any]] | None = None
    deleted: bool = False
    source: str | None = None

    @classmethod
    def of(cls, template: FlowTemplate) -> TemplateOut:
        data = template.model_dump(mode="json", by_alias=True, exclude_none=True)
        return cls.model_validate({**data, "source": template.source})


class TemplatePage(BaseModel):
    model_config = _OUT

    results: list[TemplateOut]
    total: int


class SearchTemplatesQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    namespace: str | None = Field(default=None, description="The namespace, or a parent of it")
    q: str | None = Field(default=None, description="Text the id or the namespace must contain")
    page: int = Field(default=1, ge=1)
    size: int = Field(default=10, ge=1, le=1000)


def _store(request: web.Request) -> TemplateStore:
    if not templates_enabled():
        raise ApiError(404, f"templates are off: set {ENV_ENABLED}=true in the environment of every kestra-stream "
                            "process to use them (Kestra's kestra.templates.enabled); prefer subflows")
    api = services(request)
    return TemplateStore(api.storage, registry=api.registry)


def _named(request: web.Request) -> tuple[str, str]:
    """The path's namespace and id, a 400 unless each is valid (they name a file in internal storage)."""
    template_id = request.match_info["id"]
    if not _ID.fullmatch(template_id) or len(template_id) > 100:
        raise ApiError(400, f"invalid template id {template_id!r}: letters, digits, '.', '_' or '-', starting "
                            "with a letter or digit")
    return checked_namespace(request), template_id


async def with_templates(request: web.Request, flow: Flow) -> Flow:
    """``flow`` with the templates its flow.Template tasks include, as the executor folds it (graphs show their
    tasks, as Kestra's do); the flow itself while templates are off."""
    if not templates_enabled():
        return flow
    api = services(request)
    return await TemplateInjector(TemplateStore(api.storage, registry=api.registry)).inject(flow)


def _not_found(namespace: str, template_id: str) -> ApiError:
    return ApiError(404, f"template '{namespace}.{template_id}' does not exist: create it with POST "
                         "/api/v1/templates")


def _parsed(store: TemplateStore, text: str) -> FlowTemplate:
    try:
        return store.parse(text)
    except FlowValidationError as exc:
        raise ApiError(422, f"invalid template: {exc}", [
            ErrorDetail(message=p.message, path=p.path or None, line=p.line, column=p.column)
            for p in exc.problems]) from exc


@routes.route("POST", "/templates", summary="Create a template (deprecated by Kestra)", body_content=_CONTENT,
              body_schema=_BODY, response=TemplateOut, errors=(404, 422))
async def create_template(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    text = await read_text(request)
    template = _parsed(store, text)
    if await store.source(template.namespace, template.id) is not None:
        raise ApiError(422, f"Template id already exists: '{template.uid}'; update it with PUT /api/v1/templates/"
                            f"{template.namespace}/{template.id}")
    return json_response(TemplateOut.of(await store.save(text)))


@routes.route("GET", "/templates/search", summary="Search for templates", query=SearchTemplatesQuery,
              response=TemplatePage, errors=(404,))
async def search_templates(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    params = query(request, SearchTemplatesQuery)
    prefix = params.namespace
    namespaces = {prefix} if prefix else set()
    for flow in services(request).flows.all_latest():
        parts = flow.namespace.split(".")
        namespaces.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    if prefix:
        namespaces = {ns for ns in namespaces if ns == prefix or ns.startswith(prefix + ".")}
    found: list[FlowTemplate] = []
    for namespace in sorted(namespaces):
        found += [t for t in await store.all_of(namespace) if isinstance(t, FlowTemplate)]
    if params.q:
        text = params.q.lower()
        found = [t for t in found if text in t.id.lower() or text in t.namespace.lower()]
    start = (params.page - 1) * params.size
    page = found[start:start + params.size]
    return json_response(TemplatePage(results=[TemplateOut.of(t) for t in page], total=len(found)))


@routes.route("GET", "/templates/{namespace}/{id}", summary="Get a template", response=TemplateOut,
              errors=(400, 404, 422))
async def get_template(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    namespace, template_id = _named(request)
    source = await store.source(namespace, template_id)
    if source is None:
        raise _not_found(namespace, template_id)
    return json_response(TemplateOut.of(_parsed(store, source)))


@routes.route("PUT", "/templates/{namespace}/{id}", summary="Update a template", body_content=_CONTENT,
              body_schema=_BODY, response=TemplateOut, errors=(400, 404, 422))
async def update_template(request: web.Request) -> web.StreamResponse:
    """The body must keep the template's namespace and id (422 otherwise), as Kestra's ``validateUpdate``."""
    store = _store(request)
    namespace, template_id = _named(request)
    if await store.source(namespace, template_id) is None:
        raise _not_found(namespace, template_id)
    text = await read_text(request)
    template = _parsed(store, text)
    problems = []
    if template.id != template_id:
        problems.append(ErrorDetail(message=f"Illegal template id update: '{template.id}' is not '{template_id}'",
                                    path="id"))
    if template.namespace != namespace:
        problems.append(ErrorDetail(message=f"Illegal namespace update: '{template.namespace}' is not "
                                            f"'{namespace}'", path="namespace"))
    if problems:
        raise ApiError(422, f"the body does not describe template '{namespace}.{template_id}'", problems)
    return json_response(TemplateOut.of(await store.save(text)))


@routes.route("DELETE", "/templates/{namespace}/{id}", summary="Delete a template", status=204, errors=(400, 404))
async def delete_template(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    namespace, template_id = _named(request)
    if not await store.delete(namespace, template_id):
        raise _not_found(namespace, template_id)
    return web.Response(status=204)
