"""The Flows endpoints: Kestra's ``/flows`` paths, YAML in and flows as JSON out.

Writes (create, update, delete, bulk update of a namespace, import) go to the backend's
``FlowRepository`` and are read back from it at once. Searches (``/flows/search``, export by
query) read the search index, which the indexer fills shortly after: a flow just deployed may take
a moment to be listed there.

What a flow looks like in answers is ``FlowOut``; see its docstring.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError, ErrorDetail
from kestra_stream.api._http import json_response, query, read_form, read_json, read_text, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.api._services import ApiServices
from kestra_stream.backend import FlowRepository
from kestra_stream.errors import FlowProblem, FlowValidationError, NotFoundError
from kestra_stream.flows import Source, expression_warnings, parse_source
from kestra_stream.kafka import FlowRecord
from kestra_stream.models.flow import Flow
from kestra_stream.plugins import PluginKind, PluginRegistry
from kestra_stream.search import MAX_PAGE_SIZE, MAX_RESULT_WINDOW, FlowQuery, Paging

log = structlog.get_logger(__name__)

routes = ApiRoutes("Flows")

YAML = "application/x-yaml"
_YAML_BODY: dict[str, Any] = {"type": "string", "description": "A flow in Kestra's YAML"}
_YAML_DOCUMENTS: dict[str, Any] = {"type": "string",
                                   "description": "Flows in Kestra's YAML, separated by lines of `---`"}
# Deeper than this a search index cannot page (Elasticsearch's index.max_result_window).
_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SORT = r"^(id|namespace|revision)(:(asc|desc))?$"


# ----- models -------------------------------------------------------------------------------------
_OUT = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                  serialize_by_alias=True)
_QUERY = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                    extra="ignore")
PluginObject = dict[str, Any]


class FlowLabel(BaseModel):
    model_config = _OUT

    key: str
    value: str


class FlowOut(BaseModel):
    """A flow revision as the API answers it: Kestra's flow JSON.

    The flow's YAML properties in camelCase, with ``revision`` (assigned by the server) and, where
    asked for (``source=true``; always after a write and in revision lists), ``source``: the YAML
    verbatim, comments included. Labels are always the list form. Tasks, triggers, inputs, plugin
    defaults and the like are plugin-specific: they are described here as free-form objects (each
    has at least ``id`` or ``type``); ``GET /plugins/{type}`` gives the schema of each type.
    Properties a flow does not set are left out, except ``disabled``, ``deleted`` and ``draft``.
    """

    model_config = ConfigDict(**_OUT, extra="ignore")

    id: str
    namespace: str
    revision: int
    description: str | None = None
    labels: list[FlowLabel] | None = None
    inputs: list[PluginObject] | None = None
    outputs: list[PluginObject] | None = None
    variables: dict[str, Any] | None = None
    tasks: list[PluginObject]
    errors: list[PluginObject] | None = None
    finally_: list[PluginObject] | None = Field(default=None, alias="finally")
    after_execution: list[PluginObject] | None = None
    listeners: list[dict[str, Any]] | None = None
    triggers: list[PluginObject] | None = None
    plugin_defaults: list[PluginObject] | None = None
    concurrency: dict[str, Any] | None = None
    retry: dict[str, Any] | None = None
    sla: list[dict[str, Any]] | None = None
    disabled: bool = False
    deleted: bool = False
    # Kestra 2.x's draft revisions (skipped when an execution starts without a revision): none here.
    draft: bool = False
    checks: list[dict[str, Any]] | None = None
    worker_group: dict[str, Any] | None = None
    tenant_id: str | None = None
    source: str | None = None


class FlowPage(BaseModel):
    model_config = _OUT

    results: list[FlowOut]
    total: int


class FlowValidation(BaseModel):
    """The verdict on one document of ``POST /flows/validate`` (Kestra's ValidateConstraintViolation).

    ``constraints`` is Kestra's text of every problem; ``violations`` lists them one by one, with
    lines and columns counted in the whole request body.
    """

    model_config = _OUT

    index: int
    flow: str | None = None
    namespace: str | None = None
    # The document names a revision that is not the next one: it was edited from an older version.
    outdated: bool | None = None
    deprecation_paths: list[str] = []
    warnings: list[str] = []
    infos: list[str] = []
    constraints: str | None = None
    violations: list[ErrorDetail] = []


class FlowIdentifier(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str = Field(min_length=1)
    id: str = Field(min_length=1)


class GetFlowQuery(BaseModel):
    model_config = _QUERY

    source: bool = False
    revision: int | None = Field(default=None, ge=1)
    allow_deleted: bool = False


class FlowFilter(BaseModel):
    """Which flows a search or an export covers: every filter given must match."""

    model_config = _QUERY

    q: str | None = Field(default=None, description="Words of the id, namespace or source")
    namespace: str | None = Field(default=None, description="This namespace and the ones below it")
    labels: list[Annotated[str, Field(pattern=r"^[^:]+:.*$")]] = Field(
        default=[], description="Labels as key:value, all of them required")

    @property
    def label_pairs(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for label in self.labels:
            key, _, value = label.partition(":")
            pairs[key] = value
        return pairs


class SearchFlowsQuery(FlowFilter):
    page: int = Field(default=1, ge=1)
    size: int = Field(default=10, ge=1, le=MAX_PAGE_SIZE)
    sort: list[Annotated[str, Field(pattern=_SORT)]] = Field(
        default=[], description="field[:asc|desc] with field one of id, namespace, revision")

    @model_validator(mode="after")
    def _within_window(self) -> SearchFlowsQuery:
        if self.page * self.size > MAX_RESULT_WINDOW:
            raise ValueError(f"page {self.page} of size {self.size} reaches past result {MAX_RESULT_WINDOW:,}; "
                             "narrow the search with q or namespace instead")
        return self


class BulkUpdateQuery(BaseModel):
    model_config = _QUERY

    delete: bool = Field(default=True, description="Delete the namespace's flows that are not in the body")


# ----- converting -----------------------------------------------------------------------------------
def flow_out(flow: Flow, *, source: bool) -> FlowOut:
    data = flow.model_dump(mode="json", by_alias=True, exclude_none=True)
    labels = [{"key": k, "value": v} for k, v in flow.labels_dict.items()] if flow.labels is not None else None
    data.update(labels=labels, source=flow.source if source else None)
    return FlowOut.model_validate(data)


def _answer(flow: Flow, *, source: bool, status: int = 200) -> web.Response:
    return json_response(_dump(flow_out(flow, source=source)), status=status)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _live(flows: FlowRepository, namespace: str, flow_id: str) -> Flow | None:
    try:
        return flows.get(namespace, flow_id)[0]
    except NotFoundError:
        return None


def _not_found(namespace: str, flow_id: str) -> ApiError:
    return ApiError(404, f"flow '{namespace}.{flow_id}' does not exist: create it with POST /api/v1/flows")


# ----- documents -------------------------------------------------------------------------------------
def split_documents(text: str) -> list[tuple[str, int]]:
    """The YAML documents of ``text`` (between lines of ``---``), stripped, each with the number of
    lines before it: a problem at line n of a document is at line n + that of the body. Blank
    documents are left out."""
    documents: list[tuple[str, int]] = []
    start = 0
    for end, next_start in [*((m.start(), m.end()) for m in _DOCUMENT_SEPARATOR.finditer(text)),
                            (len(text), len(text))]:
        raw = text[start:end]
        stripped = raw.strip()
        if stripped:
            lead = len(raw) - len(raw.lstrip())
            documents.append((stripped + "\n", text.count("\n", 0, start) + raw.count("\n", 0, lead)))
        start = next_start
    return documents


def _shifted(problem: FlowProblem, offset: int, prefix: str = "") -> ErrorDetail:
    return ErrorDetail(message=f"{prefix}{problem.message}", path=problem.path or None,
                       line=problem.line + offset if problem.line is not None else None, column=problem.column)


def _detail_text(detail: ErrorDetail) -> str:
    """One problem as a line of Kestra's ``constraints`` text: path, message, line."""
    where = f"{detail.path}: " if detail.path else ""
    return f"{where}{detail.message}{f' (line {detail.line})' if detail.line else ''}"


def deprecations(source: Source, registry: PluginRegistry) -> tuple[list[str], list[str]]:
    """Where a document uses an older plugin name, and what replaces each (Kestra's deprecationPaths, infos)."""
    paths: list[str] = []
    infos: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            name = node.get("type")
            if isinstance(name, str):
                for kind in PluginKind:
                    cls = registry.resolve(kind, name)
                    info = cls.plugin if cls is not None else None
                    if info is not None and name in info.aliases:
                        paths.append(path or "type")
                        infos.append(f"{name} is replaced by {info.type}")
                        break
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(source.data, "")
    return paths, list(dict.fromkeys(infos))


def _validate_document(flows: FlowRepository, registry: PluginRegistry, index: int, text: str,
                       offset: int) -> FlowValidation:
    parsed = parse_source(text)
    data = parsed.data if isinstance(parsed, Source) else None
    mapping = data if isinstance(data, dict) else {}
    flow_id, namespace = mapping.get("id"), mapping.get("namespace")
    verdict: dict[str, Any] = {"index": index, "flow": flow_id if isinstance(flow_id, str) else None,
                               "namespace": namespace if isinstance(namespace, str) else None}
    if isinstance(parsed, Source):
        verdict["deprecation_paths"], verdict["infos"] = deprecations(parsed, registry)
        verdict["warnings"] = [_detail_text(_shifted(w, offset)) for w in expression_warnings(parsed)]
    try:
        flow = flows.parse(text)
    except FlowValidationError as exc:
        details = [_shifted(p, offset) for p in exc.problems]
        verdict["violations"] = details
        verdict["constraints"] = "\n".join(_detail_text(d) for d in details)
        return FlowValidation.model_validate(verdict)
    if flow.revision is not None:
        latest = max((f.revision or 0 for f in flows.revisions(flow.namespace, flow.id)), default=0)
        verdict["outdated"] = flow.revision != latest + 1
    return FlowValidation.model_validate(verdict)


def _parse_all(flows: FlowRepository, documents: Sequence[tuple[str, int]],
               namespace: str | None = None) -> list[tuple[Flow, str]]:
    """Every document as a flow, or one 422 listing the problems of all of them."""
    parsed: list[tuple[Flow, str]] = []
    details: list[ErrorDetail] = []
    for index, (text, offset) in enumerate(documents):
        try:
            flow = flows.parse(text)
        except FlowValidationError as exc:
            details += [_shifted(p, offset, f"flow {index}: ") for p in exc.problems]
            continue
        if namespace is not None and flow.namespace != namespace:
            details.append(_at(text, offset, ["namespace"], f"flow {index}: Flow namespace is invalid: "
                               f"'{flow.namespace}' is not '{namespace}', the namespace being updated; move the "
                               "flow to that namespace or update its own namespace"))
        parsed.append((flow, text))
    ids = [flow.id for flow, _ in parsed]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        details.append(ErrorDetail(message=f"Duplicate flow id '{duplicate}': each flow may appear once",
                                   path="id"))
    if details:
        raise ApiError(422, f"{len(details)} problem(s) in the flows sent; nothing was changed", details)
    return parsed


def _at(text: str, offset: int, path: list[str | int], message: str) -> ErrorDetail:
    parsed = parse_source(text)
    position = parsed.position(path) if isinstance(parsed, Source) else None
    return ErrorDetail(message=message, path=".".join(str(p) for p in path),
                       line=position[0] + offset if position else None, column=position[1] if position else None)


# ----- searching ---------------------------------------------------------------------------------------
async def _records(api: ApiServices, flt: FlowFilter, paging: Paging) -> tuple[list[FlowRecord], int]:
    page = await asyncio.to_thread(api.search.search_flows, FlowQuery(namespace=flt.namespace, text=flt.q,
                                                                       paging=paging))
    return page.items, page.total


async def _all_records(api: ApiServices, flt: FlowFilter) -> list[FlowRecord]:
    found: list[FlowRecord] = []
    page = 1
    while True:
        items, total = await _records(api, flt, Paging(page=page, size=MAX_PAGE_SIZE))
        found += items
        if not items or len(found) >= total or page * MAX_PAGE_SIZE >= MAX_RESULT_WINDOW:
            return found
        page += 1


def _flows_of(flows: FlowRepository, records: Iterable[FlowRecord]) -> list[Flow]:
    """The revisions the index names, as the repository has them (parsed from the index when it lags)."""
    found: list[Flow] = []
    for record in records:
        try:
            found.append(flows.get(record.namespace, record.id, record.revision)[0])
            continue
        except NotFoundError:
            pass
        try:
            found.append(flows.parse(record.source).model_copy(update={"revision": record.revision}))
        except FlowValidationError as exc:
            log.warning("flow_unreadable_in_index", flow=f"{record.namespace}.{record.id}", revision=record.revision,
                        error=str(exc).splitlines()[0])
    return found


def _labelled(flows: Iterable[Flow], labels: dict[str, str]) -> list[Flow]:
    return [f for f in flows if all(f.labels_dict.get(k) == v for k, v in labels.items())]


def _sorted(flows: list[Flow], sort: Sequence[str]) -> list[Flow]:
    for spec in reversed(sort):  # stable sorts, the first key applied last
        field, _, order = spec.partition(":")
        flows = sorted(flows, key=_SORT_KEYS[field], reverse=order == "desc")
    return flows


_SORT_KEYS: dict[str, Callable[[Flow], str | int]] = {
    "id": lambda f: f.id, "namespace": lambda f: f.namespace, "revision": lambda f: f.revision or 0}


async def _matching(api: ApiServices, flt: FlowFilter) -> list[Flow]:
    return _labelled(_flows_of(api.flows, await _all_records(api, flt)), flt.label_pairs)


# ----- endpoints (static paths before the {namespace} ones: aiohttp matches in order) ----------------
@routes.route("GET", "/flows/search", summary="Search for flows", query=SearchFlowsQuery, response=FlowPage)
async def search_flows(request: web.Request) -> web.StreamResponse:
    api = services(request)
    params = query(request, SearchFlowsQuery)
    if not params.sort and not params.labels:
        records, total = await _records(api, params, Paging(page=params.page, size=params.size))
        results = _flows_of(api.flows, records)
    else:
        # The index orders by namespace and id only: another order or a label filter is applied here.
        matching = _sorted(await _matching(api, params), params.sort)
        total = len(matching)
        start = (params.page - 1) * params.size
        results = matching[start:start + params.size]
    return json_response(_dump(FlowPage(results=[flow_out(f, source=False) for f in results], total=total)))


@routes.route("POST", "/flows/validate", summary="Validate flows (YAML documents separated by ---)",
              body_content=YAML, body_schema=_YAML_DOCUMENTS, response=list[FlowValidation])
async def validate_flows(request: web.Request) -> web.StreamResponse:
    api = services(request)
    documents = split_documents(await read_text(request))
    if not documents:
        raise ApiError(422, "no flow to validate: send YAML documents separated by lines of `---`")
    verdicts = [_validate_document(api.flows, api.registry, index, text, offset)
                for index, (text, offset) in enumerate(documents)]
    return json_response([_dump(v) for v in verdicts])


@routes.route("GET", "/flows/export/by-query", summary="Export flows as a ZIP archive of YAML sources",
              query=FlowFilter, response_content="application/octet-stream")
async def export_by_query(request: web.Request) -> web.StreamResponse:
    api = services(request)
    return _zip_answer(await _matching(api, query(request, FlowFilter)))


@routes.route("POST", "/flows/export/by-ids", summary="Export flows as a ZIP archive of YAML sources",
              body=list[FlowIdentifier], response_content="application/octet-stream", errors=(404,))
async def export_by_ids(request: web.Request) -> web.StreamResponse:
    api = services(request)
    wanted: list[FlowIdentifier] = await read_json(request, list[FlowIdentifier])
    found: list[Flow] = []
    for ident in wanted:
        flow = _live(api.flows, ident.namespace, ident.id)
        if flow is None:
            raise _not_found(ident.namespace, ident.id)
        found.append(flow)
    return _zip_answer(found)


def _zip_answer(flows: Sequence[Flow]) -> web.Response:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for flow in flows:
            archive.writestr(f"{flow.namespace}.{flow.id}.yml", flow.source or "")
    return web.Response(body=buffer.getvalue(), content_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="flows.zip"'})


_IMPORT_BODY: dict[str, Any] = {
    "type": "object", "required": ["fileUpload"],
    "properties": {"fileUpload": {"type": "string", "format": "binary",
                                  "description": "A .zip of .yml/.yaml flows, or a .yml/.yaml file of flows "
                                                 "separated by ---"}}}


@routes.route("POST", "/flows/import", summary="Import flows from a ZIP archive or a YAML file",
              body_content="multipart/form-data", body_schema=_IMPORT_BODY, response=list[str])
async def import_flows(request: web.Request) -> web.StreamResponse:
    """Creates or updates every flow; answers what could not be imported (YAML: document indexes, ZIP: entries)."""
    api = services(request)
    name, data = await _upload(request)
    failed: list[str] = []
    for label, text in _import_sources(name, data, api.settings.max_body_bytes):
        try:
            api.flows.deploy(text)
        except FlowValidationError as exc:
            failed.append(label)
            log.info("flow_import_refused", entry=label, problems=len(exc.problems))
    return json_response(failed)


async def _upload(request: web.Request) -> tuple[str, bytes]:
    form = await read_form(request)
    for value in form.values():
        if isinstance(value, web.FileField):
            return value.filename or "", value.file.read()
    raise ApiError(400, "no file in the request: send multipart/form-data with a part `fileUpload` holding "
                        "a .zip of flows or a .yml/.yaml file")


def _import_sources(name: str, data: bytes, limit: int) -> list[tuple[str, str]]:
    lower = name.lower()
    if lower.endswith((".yml", ".yaml")):
        text = _text(data, name)
        return [(str(index), doc) for index, (doc, _offset) in enumerate(split_documents(text))]
    if not lower.endswith(".zip"):
        raise ApiError(400, f"cannot import {name!r}: send a .zip archive of flows or a .yml/.yaml file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ApiError(400, f"{name!r} is not a readable ZIP archive") from None
    sources: list[tuple[str, str]] = []
    unpacked = 0
    with archive:
        for entry in archive.infolist():
            if entry.is_dir() or not entry.filename.lower().endswith((".yml", ".yaml")):
                continue
            unpacked += entry.file_size
            if unpacked > limit:  # the archive may say less than it holds; read() is bounded below too
                raise ApiError(413, f"{name!r} unpacks to more than {limit:,} bytes, the request size limit")
            with archive.open(entry) as member:
                content = member.read(limit + 1)
            if len(content) > limit:
                raise ApiError(413, f"{entry.filename!r} in {name!r} is larger than {limit:,} bytes")
            sources.append((entry.filename, _text(content, entry.filename)))
    return sources


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{name!r} is not UTF-8 text") from None


@routes.route("POST", "/flows", summary="Create a flow from its YAML source", body_content=YAML,
              body_schema=_YAML_BODY, response=FlowOut)
async def create_flow(request: web.Request) -> web.StreamResponse:
    """422 when a flow of that namespace and id exists (as Kestra answers): update it with PUT instead."""
    flows = services(request).flows
    text = await read_text(request)
    flow = flows.parse(text)
    if _live(flows, flow.namespace, flow.id) is not None:
        raise ApiError(422, f"flow '{flow.uid}' already exists: update it with PUT /api/v1/flows/"
                            f"{flow.namespace}/{flow.id}",
                       [_at(text, 0, ["id"], "Flow id already exists")])
    return _answer(flows.deploy(text), source=True)


@routes.route("GET", "/flows/{namespace}", summary="The flows of a namespace (this one only, not the ones "
              "below it)", response=list[FlowOut])
async def flows_of_namespace(request: web.Request) -> web.StreamResponse:
    namespace = request.match_info["namespace"]
    found = sorted((f for f in services(request).flows.all_latest() if f.namespace == namespace),
                   key=lambda f: f.id)
    return json_response([_dump(flow_out(f, source=False)) for f in found])


@routes.route("POST", "/flows/{namespace}", summary="Update a whole namespace from YAML documents separated by ---",
              query=BulkUpdateQuery, body_content=YAML, body_schema=_YAML_DOCUMENTS, body_required=False,
              response=list[FlowOut])
async def update_namespace(request: web.Request) -> web.StreamResponse:
    """Creates or updates every flow sent; with ``delete`` (the default) deletes the namespace's other flows.

    Every document is checked first: one invalid document, one from another namespace or a repeated id
    and nothing changes. Answers the deleted flows (``deleted: true``), then the ones sent.
    """
    api = services(request)
    namespace = request.match_info["namespace"]
    params = query(request, BulkUpdateQuery)
    parsed = _parse_all(api.flows, split_documents(await read_text(request)), namespace)
    sent = {flow.id for flow, _ in parsed}
    changed: list[Flow] = []
    if params.delete:
        for existing in sorted(api.flows.all_latest(), key=lambda f: f.id):
            if existing.namespace == namespace and existing.id not in sent:
                changed.append(api.flows.delete(namespace, existing.id))
    changed += [api.flows.deploy(text) for _flow, text in parsed]
    return json_response([_dump(flow_out(f, source=True)) for f in changed])


@routes.route("GET", "/flows/{namespace}/{id}", summary="Get a flow (a revision with `revision`, the YAML with "
              "`source=true`)", query=GetFlowQuery, response=FlowOut)
async def get_flow(request: web.Request) -> web.StreamResponse:
    flows = services(request).flows
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    params = query(request, GetFlowQuery)
    try:
        flow = flows.get(namespace, flow_id, params.revision)[0]
    except NotFoundError:
        if not params.allow_deleted:
            raise
        revisions = flows.revisions(namespace, flow_id)
        wanted = [f for f in revisions if params.revision is None or f.revision == params.revision]
        if not wanted:
            raise
        flow = wanted[-1]
    return _answer(flow, source=params.source)


@routes.route("PUT", "/flows/{namespace}/{id}", summary="Update a flow from its YAML source", body_content=YAML,
              body_schema=_YAML_BODY, response=FlowOut)
async def update_flow(request: web.Request) -> web.StreamResponse:
    """A changed source becomes a new revision; the same source answers the current one. The source must keep
    the flow's namespace and id (422 otherwise)."""
    flows = services(request).flows
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    if _live(flows, namespace, flow_id) is None:
        raise _not_found(namespace, flow_id)
    text = await read_text(request)
    flow = flows.parse(text)
    problems: list[ErrorDetail] = []
    if flow.id != flow_id:
        problems.append(_at(text, 0, ["id"], f"Illegal flow id update: the source's id '{flow.id}' is not "
                                             f"'{flow_id}'; a flow cannot be renamed, create a new one with POST"))
    if flow.namespace != namespace:
        problems.append(_at(text, 0, ["namespace"], f"Illegal namespace update: the source's namespace "
                                                    f"'{flow.namespace}' is not '{namespace}'; a flow cannot be "
                                                    "moved, create it in the other namespace with POST"))
    if problems:
        raise ApiError(422, f"the source does not describe flow '{namespace}.{flow_id}'", problems)
    return _answer(flows.deploy(text), source=True)


@routes.route("DELETE", "/flows/{namespace}/{id}", summary="Delete a flow (its revisions stay readable for its "
              "executions)", status=204)
async def delete_flow(request: web.Request) -> web.StreamResponse:
    flows = services(request).flows
    namespace, flow_id = request.match_info["namespace"], request.match_info["id"]
    if _live(flows, namespace, flow_id) is None:
        raise _not_found(namespace, flow_id)
    flows.delete(namespace, flow_id)
    return web.Response(status=204)


@routes.route("GET", "/flows/{namespace}/{id}/revisions", summary="Every revision of a flow, oldest first, "
              "with its source", response=list[FlowOut])
async def flow_revisions(request: web.Request) -> web.StreamResponse:
    """An empty list for a flow never deployed (as Kestra answers); a deletion is listed as a revision."""
    flows = services(request).flows
    found = flows.revisions(request.match_info["namespace"], request.match_info["id"])
    return json_response([_dump(flow_out(f, source=True)) for f in found])
