"""The Triggers endpoints: every trigger of every flow with its state; enable, disable, unlock, backfill.

Kestra's shapes: a listed trigger is ``{"abstractTrigger": <its definition>, "triggerContext":
<its state>}``; a trigger with no state yet (never evaluated) is listed with an empty one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._http import json_response, query, read_json, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.errors import NotFoundError
from kestra_stream.models.flow import Flow
from kestra_stream.models.task import Trigger
from kestra_stream.scheduler import (
    BackfillRequest,
    TriggerStore,
    delete_backfill,
    pause_backfill,
    set_disabled,
    start_backfill,
    unlock,
)
from kestra_stream.search import TriggerRecord

routes = ApiRoutes("Triggers")
_CAMEL = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                    serialize_by_alias=True)


class TriggerSearchQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, validate_by_name=True,
                              validate_by_alias=True)

    q: str | None = Field(default=None, description="Words of the namespace, flow id or trigger id.")
    namespace: str | None = Field(default=None, description="This namespace and those below it.")
    flow_id: str | None = None
    page: int = Field(default=1, ge=1)
    size: int = Field(default=25, ge=1, le=1000)


class TriggerItem(BaseModel):
    model_config = _CAMEL

    abstract_trigger: dict[str, Any]
    trigger_context: TriggerRecord


class TriggerPage(BaseModel):
    model_config = _CAMEL

    results: list[TriggerItem]
    total: int


class TriggerRef(BaseModel):
    model_config = _CAMEL

    namespace: str = Field(min_length=1)
    flow_id: str = Field(min_length=1)
    trigger_id: str = Field(min_length=1)

    @property
    def uid(self) -> str:
        return f"{self.namespace}/{self.flow_id}/{self.trigger_id}"


class BackfillIn(BaseModel):
    model_config = _CAMEL

    start: datetime
    end: datetime | None = None
    inputs: dict[str, Any] | None = None
    labels: dict[str, str] | None = None


class TriggerUpdate(TriggerRef):
    """``disabled`` enables or disables the trigger; ``backfill`` starts a backfill of a schedule."""

    disabled: bool | None = None
    backfill: BackfillIn | None = None


class DisableMany(BaseModel):
    model_config = _CAMEL

    triggers: list[TriggerRef] = Field(min_length=1)
    disabled: bool = True


class Count(BaseModel):
    model_config = _CAMEL

    count: int


def _store(request: web.Request) -> TriggerStore:
    store = services(request).triggers
    if store is None:
        raise ApiError(404, "this server keeps no trigger state (no scheduler is configured)")
    return store


def _items(request: web.Request, flows: list[Flow]) -> list[TriggerItem]:
    """The triggers of ``flows`` with their state (an empty one where none is kept, or no scheduler runs)."""
    store = services(request).triggers
    items = []
    for flow in sorted(flows, key=lambda f: (f.namespace, f.id)):
        for trigger in flow.triggers or ():
            uid = f"{flow.namespace}/{flow.id}/{trigger.id}"
            kept = store.get(uid) if store is not None else None
            record = kept or TriggerRecord(namespace=flow.namespace, flow_id=flow.id, trigger_id=trigger.id,
                                           disabled=trigger.disabled)
            items.append(TriggerItem(abstract_trigger=_definition(trigger), trigger_context=record))
    return items


def _definition(trigger: Trigger) -> dict[str, Any]:
    value: dict[str, Any] = trigger.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def _defined(request: web.Request, ref: TriggerRef) -> Trigger:
    """The trigger ``ref`` names in the latest revision of its flow; 404 when either does not exist."""
    flow, _ = services(request).flows.get(ref.namespace, ref.flow_id)
    for trigger in flow.triggers or ():
        if trigger.id == ref.trigger_id:
            return trigger
    raise NotFoundError(f"flow '{ref.namespace}.{ref.flow_id}' has no trigger '{ref.trigger_id}'")


def _page(items: list[TriggerItem], page: int, size: int) -> TriggerPage:
    start = (page - 1) * size
    return TriggerPage(results=items[start:start + size], total=len(items))


@routes.route("GET", "/triggers/search", summary="Search triggers", query=TriggerSearchQuery, response=TriggerPage)
async def search_triggers(request: web.Request) -> web.StreamResponse:
    params = query(request, TriggerSearchQuery)
    flows = [f for f in services(request).flows.all_latest()
             if params.namespace is None or f.namespace == params.namespace
             or f.namespace.startswith(params.namespace + ".")]
    flows = [f for f in flows if params.flow_id is None or f.id == params.flow_id]
    items = _items(request, flows)
    if params.q:
        words = params.q.lower().split()
        items = [i for i in items if all(w in i.trigger_context.uid.lower() for w in words)]
    return json_response(_page(items, params.page, params.size))


@routes.route("GET", "/triggers/{namespace}/{flowId}", summary="The triggers of a flow", response=TriggerPage)
async def flow_triggers(request: web.Request) -> web.StreamResponse:
    flow, _ = services(request).flows.get(request.match_info["namespace"], request.match_info["flowId"])
    items = _items(request, [flow])
    return json_response(TriggerPage(results=items, total=len(items)))


@routes.route("POST", "/triggers/{namespace}/{flowId}/{triggerId}/unlock", summary="Unlock a trigger",
              response=TriggerRecord)
async def unlock_trigger(request: web.Request) -> web.StreamResponse:
    ref = TriggerRef(namespace=request.match_info["namespace"], flow_id=request.match_info["flowId"],
                     trigger_id=request.match_info["triggerId"])
    _defined(request, ref)
    return json_response(await unlock(_store(request), ref.uid))


@routes.route("PUT", "/triggers", summary="Enable or disable a trigger, or start a backfill", body=TriggerUpdate,
              response=TriggerRecord, errors=(404, 409),
              aliases=("/triggers/set-disabled", "/triggers/backfill/create"))  # Kestra 2.x's paths
async def update_trigger(request: web.Request) -> web.StreamResponse:
    update: TriggerUpdate = await read_json(request, TriggerUpdate)
    _defined(request, update)
    store = _store(request)
    record = store.get(update.uid)
    if update.backfill is not None:
        b = update.backfill
        record = await start_backfill(store, update.uid, BackfillRequest(b.start, b.end, b.inputs, b.labels))
    if update.disabled is not None:
        record = await set_disabled(store, update.uid, update.disabled)
    if record is None:
        raise ApiError(422, "nothing to change: give `disabled` or `backfill`")
    return json_response(record)


@routes.route("POST", "/triggers/set-disabled/by-triggers", summary="Enable or disable several triggers",
              body=DisableMany, response=Count, errors=(404,))
async def set_disabled_by_triggers(request: web.Request) -> web.StreamResponse:
    many: DisableMany = await read_json(request, DisableMany)
    for ref in many.triggers:
        _defined(request, ref)
    for ref in many.triggers:
        await set_disabled(_store(request), ref.uid, many.disabled)
    return json_response(Count(count=len(many.triggers)))


async def _backfill_change(request: web.Request, change: str) -> web.StreamResponse:
    ref: TriggerRef = await read_json(request, TriggerRef)
    _defined(request, ref)
    store = _store(request)
    if change == "delete":
        return json_response(await delete_backfill(store, ref.uid))
    return json_response(await pause_backfill(store, ref.uid, paused=change == "pause"))


@routes.route("PUT", "/triggers/backfill/pause", summary="Pause a trigger's backfill", body=TriggerRef,
              response=TriggerRecord, errors=(404,))
async def pause_trigger_backfill(request: web.Request) -> web.StreamResponse:
    return await _backfill_change(request, "pause")


@routes.route("PUT", "/triggers/backfill/unpause", summary="Go on with a trigger's backfill", body=TriggerRef,
              response=TriggerRecord, errors=(404,))
async def unpause_trigger_backfill(request: web.Request) -> web.StreamResponse:
    return await _backfill_change(request, "unpause")


@routes.route("POST", "/triggers/backfill/delete", summary="Cancel a trigger's backfill", body=TriggerRef,
              response=TriggerRecord, errors=(404,))
async def delete_trigger_backfill(request: web.Request) -> web.StreamResponse:
    return await _backfill_change(request, "delete")
