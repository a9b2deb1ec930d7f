"""The Executions endpoints: create (inputs as multipart form data or JSON), get, search (all, or one
flow's), delete, kill, pause, resume, restart, replay, set labels, change a task run's state, and follow
as server-sent events.

Each command on one execution is served at two paths: Kestra's older ``/executions/{id}/kill``
(``pause``, ``resume``, ...) and Kestra 2.x's ``/executions/{id}/actions/kill``, by one handler
that answers the execution as the backend holds it once the command is sent.

An execution is read live from the backend (``Backend.state``) and, when the backend does not
hold it (an execution older than this process on Kafka), from the search index. Searches read
the index only, so what they answer trails the live state by the indexer's delay.

"Deleted" means: the backend forgets the ended execution (embedded: its row, events and logs
leave the SQLite file; Kafka: a tombstone on the executions topic and the client's cache) and
its files leave internal storage. A running execution is refused (409): kill it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from kestra_stream.api._errors import ApiError
from kestra_stream.api._feed import (
    KEEPALIVE_SECONDS,
    feed_for,
    open_event_stream,
    send_event,
    send_keepalive,
)
from kestra_stream.api._http import json_response, query, read_body, read_form, read_json, services
from kestra_stream.api._query_filters import EXECUTION_FILTERS, filtered_query
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.backend import Backend
from kestra_stream.errors import ExecutionStateError, InputError, NotFoundError
from kestra_stream.models.execution import Execution, TriggeredBy
from kestra_stream.models.flow import Flow
from kestra_stream.models.inputs import FileInput
from kestra_stream.models.state import State, StateType
from kestra_stream.search import ExecutionQuery, ExecutionSort, Paging
from kestra_stream.storage import execution_uri

routes = ApiRoutes("Executions")

SYSTEM_LABEL_PREFIX = "system."
# Following an execution just created waits this long for it to appear (Kestra waits up to 10 s).
FOLLOW_FIND_SECONDS = 5.0
FIND_POLL_SECONDS = 0.1
_QUERY = ConfigDict(frozen=True, populate_by_name=True)
_INPUTS_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": True,
    "description": "One field per input; a FILE input is an uploaded part (named after the input, or "
                   "named `files` with the input id as its file name, as Kestra's clients send it)."}


# ----- models ------------------------------------------------------------------------------------
class CreateExecutionQuery(BaseModel):
    model_config = _QUERY

    labels: list[str] = Field(default_factory=list, description="Labels as repeated `key:value`.")
    wait: bool = Field(default=False, description="Answer once the execution has ended.")
    revision: int | None = Field(default=None, ge=1, description="The flow revision; the latest by default.")


class ChildFilter(StrEnum):
    """Kestra's ``childFilter``: executions another execution started (a Flow trigger's, a Subflow's), or not."""

    CHILD = "CHILD"
    MAIN = "MAIN"


class TriggerFilters(BaseModel):
    """What started the executions searched or counted: the filters the executions list and its statistics share."""

    triggered_by: list[TriggeredBy] = Field(
        default_factory=list, alias="triggeredBy",
        description=f"Started by any of these (repeatable): {', '.join(t.value for t in TriggeredBy)}. "
                    "MANUAL is the API, the UI or the CLI; SUBFLOW a parent execution's Subflow task. Every filter is "
                    "also read in Kestra 2.x's form, e.g. `filters[triggeredBy][IN]=FLOW,WEBHOOK`.")
    trigger_execution_id: str | None = Field(default=None, alias="triggerExecutionId", min_length=1,
                                             description="Started by this execution (Kestra's filter).")
    child_filter: ChildFilter | None = Field(default=None, alias="childFilter",
                                             description="CHILD: started by another execution; MAIN: not.")

    def trigger_terms(self) -> dict[str, Any]:
        """These filters as the fields of an ``ExecutionQuery``."""
        return {"triggered_by": tuple(self.triggered_by), "trigger_execution_id": self.trigger_execution_id,
                "child": None if self.child_filter is None else self.child_filter is ChildFilter.CHILD}


class SearchExecutionsQuery(TriggerFilters):
    model_config = _QUERY

    q: str | None = Field(default=None, description="Words of the id, namespace, flow id, labels or inputs.")
    namespace: str | None = Field(default=None, description="The namespace, or a parent of it.")
    flow_id: str | None = Field(default=None, alias="flowId")
    state: list[StateType] = Field(default_factory=list, description="Current states (repeatable).")
    labels: list[str] = Field(default_factory=list, description="Labels as repeated `key:value`.")
    start_date: datetime | None = Field(default=None, alias="startDate")
    end_date: datetime | None = Field(default=None, alias="endDate")
    time_range: timedelta | None = Field(default=None, alias="timeRange", description="Started within this ISO-8601 "
                                         "duration before now (P1D, PT1H); instead of `startDate`.")
    sort: list[str] = Field(default_factory=list, description="`field:asc|desc`, e.g. `state.startDate:desc`.")
    page: int = Field(default=1, ge=1)
    size: int = Field(default=25, ge=1, le=1000)


class FlowExecutionsQuery(BaseModel):
    model_config = _QUERY

    namespace: str = Field(min_length=1, description="The flow's namespace (exactly: not its children).")
    flow_id: str = Field(alias="flowId", min_length=1)
    page: int = Field(default=1, ge=1)
    size: int = Field(default=10, ge=1, le=1000)


class ExecutionPage(BaseModel):
    results: list[Execution]
    total: int


class ReplayQuery(BaseModel):
    model_config = _QUERY

    task_run_id: str | None = Field(default=None, alias="taskRunId", min_length=1)


class TaskRunStateRequest(BaseModel):
    """Kestra's ``StateRequest``: which task run, and the state it is given."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    task_run_id: str = Field(alias="taskRunId", min_length=1, description="An ended task run of the execution.")
    state: StateType = Field(description="SUCCESS, FAILED or WARNING.")


class Label(BaseModel):
    key: str
    value: str


# ----- reading executions ------------------------------------------------------------------------
async def find_execution(request: web.Request, execution_id: str, *, within: float = 0.0) -> Execution:
    """The execution as the backend holds it, else as indexed; NotFoundError (404) when neither knows it.

    ``within`` seconds are given to an execution just created: the Kafka backend publishes it a
    moment after the request that created it returned.
    """
    deadline = asyncio.get_running_loop().time() + within
    found = await _find(request, execution_id)
    while found is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(FIND_POLL_SECONDS)
        found = await _find(request, execution_id)
    if found is None:
        raise NotFoundError(f"execution '{execution_id}' does not exist: check the id (GET /api/v1/executions/"
                            "search lists executions)")
    return found


async def _find(request: web.Request, execution_id: str) -> Execution | None:
    svc = services(request)
    state = svc.backend.state(execution_id)
    if state is not None:
        return state.execution
    page = await asyncio.to_thread(svc.search.search_executions,
                                   ExecutionQuery(text=execution_id, paging=Paging(size=20)))
    return next((e for e in page.items if e.id == execution_id), None)


async def _settled(backend: Backend, execution_id: str, within: float) -> Execution | None:
    """The execution once the backend holds it (Kafka publishes it a moment after the request)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = backend.state(execution_id)
        if state is not None:
            return state.execution
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(0.02)


def since(start_date: datetime | None, time_range: timedelta | None) -> datetime | None:
    """The start of a search's time window: ``startDate``, or ``timeRange`` before now (Kestra's two ways)."""
    if time_range is None:
        return start_date
    if start_date is not None:
        raise ApiError(400, "`startDate` and `timeRange` are mutually exclusive: give one of them")
    return datetime.now(UTC) - abs(time_range)


def parse_labels(pairs: list[str], *, where: str = "labels") -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition(":")
        if not sep or not key:
            raise ApiError(400, f"invalid label {pair!r} in `{where}`: write labels as `key:value`")
        labels[key] = value
    return labels


def _refuse_system_labels(labels: Mapping[str, str], kept: Mapping[str, str] | None = None) -> None:
    for key, value in labels.items():
        if key.startswith(SYSTEM_LABEL_PREFIX) and (kept is None or kept.get(key) != value):
            raise ApiError(422, f"label '{key}' is reserved: labels starting with `{SYSTEM_LABEL_PREFIX}` are set "
                                "by kestra-stream itself")


# ----- inputs from a request ---------------------------------------------------------------------
class RequestInputs:
    """Inputs read from a JSON object or a multipart / url-encoded form; uploads spooled to ``folder``.

    Form values are text (``from_text``); an upload becomes the ``file://`` URI of its spooled copy,
    which ``create_execution`` stores in internal storage. A ``file:`` value sent as text is refused:
    it would have the server read one of its own files.
    """

    def __init__(self, values: dict[str, Any], *, from_text: bool, uploads: frozenset[str]) -> None:
        self.values = values
        self.from_text = from_text
        self.uploads = uploads

    def check_files(self, flow: Flow) -> None:
        for definition in flow.inputs or []:
            value = self.values.get(definition.id)
            if definition.id in self.uploads or not isinstance(value, str):
                continue
            if isinstance(definition, FileInput) and value.lower().startswith("file:"):
                raise InputError(definition.id, "a local file URI cannot be given through the API; upload the "
                                                "file as a multipart part named after the input")


async def read_inputs(request: web.Request, folder: Path) -> RequestInputs:
    if not request.body_exists:
        return RequestInputs({}, from_text=False, uploads=frozenset())
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request, folder)
    body = await read_body(request)
    if not body.strip():
        return RequestInputs({}, from_text=False, uploads=frozenset())
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise ApiError(400, f"inputs cannot be read from {request.content_type}: send multipart/form-data or "
                            "a JSON object")
    try:
        values = TypeAdapter(dict[str, Any]).validate_json(body)
    except ValidationError:
        raise ApiError(400, "the request body is not a JSON object of inputs") from None
    return RequestInputs(values, from_text=False, uploads=frozenset())


async def _read_form(request: web.Request, folder: Path) -> RequestInputs:
    form = await read_form(request)
    values: dict[str, Any] = {}
    uploads: set[str] = set()
    for name, field in form.items():
        if isinstance(field, web.FileField):
            # Kestra's clients send files as parts named "files" whose file name is the input id.
            input_id = field.filename if name == "files" and field.filename else name
            original = Path(field.filename or input_id).name or input_id
            target = folder / input_id / original
            target.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(_spool, field, target)
            values[input_id] = target.as_uri()
            uploads.add(input_id)
        else:
            values[name] = field
    return RequestInputs(values, from_text=True, uploads=frozenset(uploads))


def _spool(field: web.FileField, target: Path) -> None:
    field.file.seek(0)
    with target.open("wb") as out:
        while chunk := field.file.read(1 << 20):
            out.write(chunk)


@contextlib.asynccontextmanager
async def upload_folder() -> AsyncIterator[Path]:
    """A private folder for spooled uploads, gone once the execution has stored them."""
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="kestra-stream-upload-")
    try:
        yield Path(folder)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


def created_execution(execution_id: str, flow: Flow, revision: int, labels: Mapping[str, str]) -> Execution:
    """What a just-created execution looks like before the backend publishes it (Kafka is asynchronous)."""
    return Execution(id=execution_id, namespace=flow.namespace, flow_id=flow.id, flow_revision=revision,
                     labels={**flow.labels_dict, **labels}, state=State.new(StateType.CREATED, datetime.now(UTC)))


# ----- create, get, search, delete ---------------------------------------------------------------
@routes.route("GET", "/executions/search", summary="Search executions", query=SearchExecutionsQuery,
              response=ExecutionPage)
async def search_executions(request: web.Request) -> web.StreamResponse:
    params = filtered_query(request, SearchExecutionsQuery, EXECUTION_FILTERS)
    sort, descending = _sort(params.sort)
    search_query = ExecutionQuery(
        namespace=params.namespace, flow_id=params.flow_id, states=tuple(params.state),
        labels=parse_labels(params.labels), start_date=since(params.start_date, params.time_range),
        end_date=params.end_date, text=params.q, **params.trigger_terms(),
        sort=sort, descending=descending, paging=Paging(page=params.page, size=params.size))
    page = await asyncio.to_thread(services(request).search.search_executions, search_query)
    return json_response(ExecutionPage(results=page.items, total=page.total))


@routes.route("GET", "/executions", summary="The executions of one flow, the latest started first",
              query=FlowExecutionsQuery, response=ExecutionPage)
async def flow_executions(request: web.Request) -> web.StreamResponse:
    """Kestra's ``findByFlowId`` (the SDKs' ``search_executions_by_flow_id``): a search on one flow."""
    params = query(request, FlowExecutionsQuery)
    search_query = ExecutionQuery(namespace=params.namespace, exact_namespace=True, flow_id=params.flow_id,
                                  paging=Paging(page=params.page, size=params.size))
    page = await asyncio.to_thread(services(request).search.search_executions, search_query)
    return json_response(ExecutionPage(results=page.items, total=page.total))


_SORTS = {"startdate": ExecutionSort.START_DATE, "state.startdate": ExecutionSort.START_DATE,
          "enddate": ExecutionSort.END_DATE, "state.enddate": ExecutionSort.END_DATE,
          "duration": ExecutionSort.DURATION, "state.duration": ExecutionSort.DURATION, "id": ExecutionSort.ID,
          "namespace": ExecutionSort.NAMESPACE, "flowid": ExecutionSort.FLOW_ID, "state": ExecutionSort.STATE,
          "state.current": ExecutionSort.STATE}


def _sort(values: list[str]) -> tuple[ExecutionSort, bool]:
    if not values:
        return ExecutionSort.START_DATE, True
    name, _, direction = values[0].partition(":")
    sort = _SORTS.get(name.lower())
    if sort is None or direction.lower() not in ("", "asc", "desc"):
        raise ApiError(400, f"cannot sort by {values[0]!r}: use `field:asc` or `field:desc` with field one of "
                            "state.startDate, state.endDate, state.duration, id, namespace, flowId, state.current")
    return sort, direction.lower() != "asc"


@routes.route("GET", "/executions/{executionId}", summary="Get an execution", response=Execution)
async def get_execution(request: web.Request) -> web.StreamResponse:
    return json_response(await find_execution(request, request.match_info["executionId"]))


def _actions(command: str) -> tuple[str]:
    """Kestra 2.x's path of a command on one execution (the older path stays served too)."""
    return (f"/executions/{{executionId}}/actions/{command}",)


def check_deletable(execution: Execution) -> None:
    if not execution.state.current.is_terminated:
        raise ExecutionStateError(f"execution '{execution.id}' is {execution.state.current.value}: kill it "
                                  "(DELETE /api/v1/executions/{id}/kill) before deleting it", execution_id=execution.id)


async def delete_ended(request: web.Request, execution: Execution) -> None:
    """Forget ``execution`` (checked by ``check_deletable``): backend, search index and its files."""
    svc = services(request)
    version = await svc.backend.delete_execution(execution.id)
    await asyncio.to_thread(partial(svc.search.delete_execution, execution.id, version=version))
    prefix = execution_uri(execution.namespace, execution.flow_id, execution.id)
    for uri in await svc.storage.list(prefix):
        await svc.storage.delete(uri)


def check_killable(execution: Execution) -> None:
    if execution.state.current.is_terminated:
        raise ExecutionStateError(f"execution '{execution.id}' already ended ({execution.state.current.value}): "
                                  "there is nothing to kill", execution_id=execution.id)


async def _as_now(request: web.Request, execution_id: str) -> web.Response:
    """The execution after a command, as far as the backend has applied it (Kestra 2.x answers it)."""
    return json_response(await find_execution(request, execution_id))


@routes.route("DELETE", "/executions/{executionId}", summary="Delete an ended execution", status=204,
              errors=(409,))
async def delete_execution(request: web.Request) -> web.StreamResponse:
    execution = await find_execution(request, request.match_info["executionId"])
    check_deletable(execution)
    await delete_ended(request, execution)
    return web.Response(status=204)


# ----- commands ----------------------------------------------------------------------------------
@routes.route("DELETE", "/executions/{executionId}/kill", summary="Kill an execution", status=202,
              response=Execution, errors=(409,), aliases=_actions("kill"))
async def kill_execution(request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["executionId"]
    check_killable(await find_execution(request, execution_id))
    await services(request).backend.kill(execution_id)
    response = await _as_now(request, execution_id)
    response.set_status(202)
    return response


@routes.route("POST", "/executions/{executionId}/pause", summary="Pause a running execution", response=Execution,
              errors=(409,), aliases=_actions("pause"))
async def pause_execution(request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["executionId"]
    execution = await find_execution(request, execution_id)
    if execution.state.current != StateType.RUNNING:
        raise ExecutionStateError(f"execution '{execution_id}' is {execution.state.current.value}: only a RUNNING "
                                  "execution can be paused", execution_id=execution_id)
    await services(request).backend.pause(execution_id)
    return await _as_now(request, execution_id)


@routes.route("POST", "/executions/{executionId}/resume", summary="Resume a paused execution (its Pause tasks' "
              "onResume inputs as form fields or a JSON object)", body_content="multipart/form-data",
              body_schema=_INPUTS_SCHEMA, body_required=False, response=Execution, errors=(409,),
              aliases=_actions("resume"))
async def resume_execution(request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["executionId"]
    execution = await find_execution(request, execution_id)
    if execution.state.current != StateType.PAUSED:
        raise ExecutionStateError(f"execution '{execution_id}' is {execution.state.current.value}, not PAUSED: "
                                  "only a paused execution can be resumed", execution_id=execution_id)
    async with upload_folder() as folder:
        inputs = await read_inputs(request, folder)
        if inputs.uploads:
            raise InputError(sorted(inputs.uploads)[0], "files cannot be uploaded when resuming; give the value "
                                                        "as text")
        await services(request).backend.resume(execution_id, inputs.values, from_text=inputs.from_text)
    return await _as_now(request, execution_id)


@routes.route("POST", "/executions/{executionId}/restart", summary="Restart a failed or killed execution",
              response=Execution, errors=(409,), aliases=_actions("restart"))
async def restart_execution(request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["executionId"]
    await find_execution(request, execution_id)
    await services(request).backend.restart(execution_id)
    return await _as_now(request, execution_id)


async def replay_of(request: web.Request, source: Execution, task_run_id: str | None) -> Execution:
    """Replay ``source`` (from ``task_run_id``, else from the start): the new execution."""
    backend = services(request).backend
    replayed = await backend.replay(source.id, task_run_id)
    execution = await _settled(backend, replayed, within=5.0)
    if execution is None:
        execution = source.model_copy(update={
            "id": replayed, "original_id": source.original_id or source.id, "outputs": None, "task_run_list": (),
            "state": State.new(StateType.CREATED, datetime.now(UTC))})
    return execution


@routes.route("POST", "/executions/{executionId}/replay", summary="Replay an execution from a task run",
              query=ReplayQuery, response=Execution, errors=(409,), aliases=_actions("replay"))
async def replay_execution(request: web.Request) -> web.StreamResponse:
    params = query(request, ReplayQuery)
    source = await find_execution(request, request.match_info["executionId"])
    return json_response(await replay_of(request, source, params.task_run_id))


@routes.route("POST", "/executions/{executionId}/labels", summary="Add or change labels of an ended execution",
              body=list[Label], response=Execution, errors=(409,), aliases=_actions("labels"))
async def set_labels(request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["executionId"]
    labels: list[Label] = await read_json(request, list[Label])
    execution = await find_execution(request, execution_id)
    if not execution.state.current.is_terminated:
        raise ExecutionStateError(f"execution '{execution_id}' is {execution.state.current.value}: labels can be "
                                  "set once it has ended", execution_id=execution_id)
    wanted = {label.key: label.value for label in labels if label.key or label.value}
    _refuse_system_labels(wanted, kept=execution.labels)
    return json_response(await services(request).backend.set_labels(execution_id, wanted))


@routes.route("POST", "/executions/{executionId}/state", summary="Set a task run of an ended execution to "
              "SUCCESS, FAILED or WARNING; the execution runs on from there", body=TaskRunStateRequest,
              response=Execution, errors=(409,), aliases=_actions("state"))
async def set_taskrun_state(request: web.Request) -> web.StreamResponse:
    execution_id = request.match_info["executionId"]
    change: TaskRunStateRequest = await read_json(request, TaskRunStateRequest)
    await find_execution(request, execution_id)
    await services(request).backend.set_taskrun_state(execution_id, change.task_run_id, change.state)
    return await _as_now(request, execution_id)


# ----- follow ------------------------------------------------------------------------------------
@routes.route("GET", "/executions/{executionId}/follow", summary="Follow an execution (server-sent events)",
              response_content="text/event-stream")
async def follow_execution(request: web.Request) -> web.StreamResponse:
    """Each change of the execution as an event ``id: progress``, then the last one again as ``id: end``."""
    execution_id = request.match_info["executionId"]
    await find_execution(request, execution_id, within=FOLLOW_FIND_SECONDS)
    backend = services(request).backend
    with feed_for(backend).follow(execution_id) as changes:
        # Read after registering: a change between the two is then both read here and queued.
        current = backend.state(execution_id)
        response = await open_event_stream(request)
        if current is None:
            indexed = await find_execution(request, execution_id)
            if indexed.state.current.is_terminated:
                await send_event(response, "end", indexed)
                return response
            await send_event(response, "progress", indexed)
        elif current.finished:
            await send_event(response, "end", current.execution)
            return response
        else:
            await send_event(response, "progress", current.execution)
        while True:
            try:
                state = await asyncio.wait_for(changes.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await send_keepalive(response)
                latest = backend.state(execution_id)
                if latest is None or not latest.finished:
                    continue
                state = latest  # ended while no change reached the feed (a restarted client, a lost listener)
            await send_event(response, "progress", state.execution)
            if state.finished:
                await send_event(response, "end", state.execution)
                return response


# Declared last: its path would otherwise take POST /executions/{executionId}/pause and its siblings.
@routes.route("POST", "/executions/{namespace}/{flowId}", summary="Create an execution of a flow",
              query=CreateExecutionQuery, body_content="multipart/form-data", body_schema=_INPUTS_SCHEMA,
              body_required=False, response=Execution, errors=(409,))
async def create_execution(request: web.Request) -> web.StreamResponse:
    namespace, flow_id = request.match_info["namespace"], request.match_info["flowId"]
    params = query(request, CreateExecutionQuery)
    labels = parse_labels(params.labels)
    _refuse_system_labels(labels)
    svc = services(request)
    flow, revision = svc.flows.get(namespace, flow_id, params.revision)
    if flow.disabled:
        raise ApiError(409, f"flow {namespace}.{flow_id} is disabled: enable it (`disabled: false`) to run it")
    async with upload_folder() as folder:
        inputs = await read_inputs(request, folder)
        inputs.check_files(flow)
        execution_id = await svc.backend.create_execution(namespace, flow_id, inputs.values, labels=labels,
                                                          from_text=inputs.from_text, revision=revision)
    if params.wait:
        return json_response(await svc.backend.wait(execution_id))
    state = svc.backend.state(execution_id)
    if state is None:
        return json_response(created_execution(execution_id, flow, revision, labels))
    return json_response(state.execution)
