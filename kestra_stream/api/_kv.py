"""The key-value store of a namespace (Kestra's KVController), on the ``KVStore`` of internal storage.

    PUT    /namespaces/{namespace}/kv/{key}    the body is the value; ``ttl`` header (or query) an ISO-8601 duration
    GET    /namespaces/{namespace}/kv/{key}    ``{"type": "STRING", "value": ...}``; 404 when missing or expired
    DELETE /namespaces/{namespace}/kv/{key}    ``true`` when a live entry was removed, else ``false``
    GET    /namespaces/{namespace}/kv          every live entry with its update and expiration dates
    GET    /namespaces/{namespace}/kv/inheritance  the entries of its parent namespaces
    DELETE /namespaces/{namespace}/kv          ``{"keys": [...]}``: removes those keys, answers the ones removed
    GET    /kv                                 the keys of every namespace, paged (``namespace``, ``q`` narrow it)

Internal storage cannot list its namespaces without walking every execution's files, so ``GET /kv``
reads the namespaces that hold a flow and their parent namespaces: a key set in a namespace that
neither holds a flow nor is the parent of one is read through ``/namespaces/{namespace}/kv``.

The value is read as Kestra reads it (an Ion text, of which JSON is a part): a JSON string,
number, boolean, object or array keeps its type; an unquoted ISO-8601 date-time, date or duration
(``2024-05-01T10:00:00Z``, ``2024-05-01``, ``PT5M``) becomes a DATETIME, DATE or DURATION; any other
text is a STRING as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._http import json_response, query, read_json, read_text, services
from kestra_stream.api._namespaces import checked_namespace
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.durations import parse_duration
from kestra_stream.kv import KVEntry, KVStore, KVStoreError, KVType
from kestra_stream.models.flow import Flow

__all__ = ["KVDeleteKeys", "KVEntryOut", "KVPage", "KVValueOut", "parse_kv_value", "routes"]

routes = ApiRoutes("KV")

_OUT = ConfigDict(frozen=True, alias_generator=to_camel, serialize_by_alias=True, validate_by_name=True)


class KVEntryOut(BaseModel):
    """One key of a namespace, without its value (Kestra's ``KVEntry``)."""

    model_config = _OUT

    namespace: str
    key: str
    description: str | None = None
    update_date: datetime
    expiration_date: datetime | None = None

    @classmethod
    def of(cls, namespace: str, entry: KVEntry) -> KVEntryOut:
        return cls(namespace=namespace, key=entry.key, description=entry.description, update_date=entry.update_date,
                   expiration_date=entry.expiration_date)


class KVValueOut(BaseModel):
    """A value with its type (Kestra's ``TypedValue``)."""

    model_config = _OUT

    type: KVType
    value: Any


class KVDeleteKeys(BaseModel):
    """The keys a bulk delete names (request), or the keys it removed (answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[str] = Field(default_factory=list)


class KVPage(BaseModel):
    """A page of keys across namespaces (Kestra's ``PagedResults<KVEntry>``)."""

    results: list[KVEntryOut]
    total: int


_KV_SORTS = {"namespace": "namespace", "key": "key", "updateDate": "update_date",
             "expirationDate": "expiration_date"}


class KVSearchQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str | None = Field(default=None, description="The namespace, or a parent of it")
    q: str | None = Field(default=None, description="Text the key must contain")
    sort: list[str] = Field(default_factory=list, description="`field:asc|desc`, field one of "
                                                             + ", ".join(_KV_SORTS) + "; namespace then key by default")
    page: int = Field(default=1, ge=1)
    size: int = Field(default=25, ge=1, le=1000)


class KVPutQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ttl: str | None = Field(default=None, description="ISO-8601 duration after which the key expires (PT1H); "
                                                      "a `ttl` header does the same, as in Kestra")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_kv_value(text: str) -> tuple[KVType | None, Any]:
    """The value a PUT body holds and its type (``None``: inferred from the JSON value)."""
    stripped = text.strip()
    try:
        return None, json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        pass
    if stripped[:1].upper() == "P" or stripped[:2].upper() == "-P":
        try:
            return KVType.DURATION, parse_duration(stripped)
        except ValueError:
            pass
    if len(stripped) == 10:
        try:
            return KVType.DATE, date.fromisoformat(stripped)
        except ValueError:
            pass
    if "T" in stripped:
        try:
            return KVType.DATETIME, datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            pass
    return KVType.STRING, text


def _ttl(request: web.Request) -> timedelta | None:
    raw = request.headers.get("ttl") or query(request, KVPutQuery).ttl
    if raw is None:
        return None
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise ApiError(400, f"invalid ttl {raw!r}: {exc}") from None


def _store(request: web.Request) -> KVStore:
    return KVStore(services(request).storage, checked_namespace(request))


def _key(request: web.Request, store: KVStore) -> str:
    key = request.match_info["key"]
    try:
        store.uri_of(key)
    except KVStoreError as exc:
        raise ApiError(400, str(exc)) from None
    return key


@routes.route("PUT", "/namespaces/{namespace}/kv/{key}", summary="Set the value of a key",
              query=KVPutQuery, body_schema={}, body_content="application/json", response=KVEntryOut)
async def put_kv(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    key = _key(request, store)
    ttl = _ttl(request)
    kv_type, value = parse_kv_value(await read_text(request))
    try:
        entry = await store.set(key, value, kv_type=kv_type, ttl=ttl)
    except KVStoreError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response(KVEntryOut.of(store.namespace, entry))


@routes.route("GET", "/namespaces/{namespace}/kv/{key}", summary="Get the typed value of a key",
              response=KVValueOut, errors=(409,))
async def get_kv(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    key = _key(request, store)
    entry = await _read(store, key)
    if entry is None:
        raise ApiError(404, f"no value for the key '{key}' in the namespace '{store.namespace}' (missing or expired)")
    return json_response(KVValueOut(type=entry.type, value=entry.value))


async def _read(store: KVStore, key: str) -> KVEntry | None:
    try:
        return await store.get(key)
    except KVStoreError as exc:  # a corrupt entry: say which one and how to repair it
        raise ApiError(409, str(exc)) from None


@routes.route("DELETE", "/namespaces/{namespace}/kv/{key}", summary="Delete a key",
              response=bool, errors=(409,))
async def delete_kv(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    key = _key(request, store)
    try:
        return json_response(await store.delete(key))
    except KVStoreError as exc:
        raise ApiError(409, str(exc)) from None


@routes.route("GET", "/namespaces/{namespace}/kv", summary="List the keys of a namespace",
              response=list[KVEntryOut], errors=(409,))
async def list_kv(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    return json_response(await _entries(store))


async def _entries(store: KVStore) -> list[KVEntryOut]:
    try:
        entries = await store.list()
    except KVStoreError as exc:
        raise ApiError(409, str(exc)) from None
    return [KVEntryOut.of(store.namespace, entry) for entry in entries]


# Routed before /kv/{key} (a fixed segment sorts first): as in Kestra, no key named "inheritance" can be read.
@routes.route("GET", "/namespaces/{namespace}/kv/inheritance", summary="The keys the parent namespaces hand down, "
              "the nearest parent first", response=list[KVEntryOut], errors=(409,))
async def list_inherited_kv(request: web.Request) -> web.StreamResponse:
    namespace = checked_namespace(request)
    parts = namespace.split(".")
    storage = services(request).storage
    inherited: list[KVEntryOut] = []
    for depth in range(len(parts) - 1, 0, -1):
        inherited += await _entries(KVStore(storage, ".".join(parts[:depth])))
    return json_response(inherited)


@routes.route("DELETE", "/namespaces/{namespace}/kv", summary="Delete several keys of a namespace",
              body=KVDeleteKeys, response=KVDeleteKeys)
async def delete_kv_keys(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    wanted: KVDeleteKeys = await read_json(request, KVDeleteKeys)
    deleted: list[str] = []
    for key in dict.fromkeys(wanted.keys):
        try:
            if await store.delete(key):
                deleted.append(key)
        except KVStoreError:
            continue  # as Kestra: a key that cannot be deleted is left out of the answer
    return json_response(KVDeleteKeys(keys=deleted))


@routes.route("GET", "/kv", summary="The keys of every namespace that holds a flow, and of its parents",
              query=KVSearchQuery, response=KVPage, errors=(409,))
async def search_kv(request: web.Request) -> web.StreamResponse:
    params = query(request, KVSearchQuery)
    attribute, descending = _kv_sort(params.sort)
    storage = services(request).storage
    found: list[KVEntryOut] = []
    for namespace in _flow_namespaces_and_parents(services(request).flows.all_latest()):
        if params.namespace is None or namespace == params.namespace or namespace.startswith(params.namespace + "."):
            found += [e for e in await _entries(KVStore(storage, namespace)) if not params.q or params.q in e.key]
    found.sort(key=lambda e: (e.namespace, e.key))
    if attribute is not None:
        # Stable sorts: the default order breaks ties; a key that never expires sorts as the latest date.
        found.sort(key=lambda e: (getattr(e, attribute) is None, getattr(e, attribute) or e.update_date),
                   reverse=descending)
    start = (params.page - 1) * params.size
    return json_response(KVPage(results=found[start:start + params.size], total=len(found)))


def _kv_sort(values: list[str]) -> tuple[str | None, bool]:
    if not values:
        return None, False
    name, _, direction = values[0].partition(":")
    if name not in _KV_SORTS or direction.lower() not in ("", "asc", "desc"):
        raise ApiError(400, f"cannot sort keys by {values[0]!r}: use `field:asc` or `field:desc` with field one of "
                            + ", ".join(_KV_SORTS))
    return _KV_SORTS[name], direction.lower() == "desc"


def _flow_namespaces_and_parents(flows: Iterable[Flow]) -> list[str]:
    names: set[str] = set()
    for flow in flows:
        parts = flow.namespace.split(".")
        names.update(".".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return sorted(names)
