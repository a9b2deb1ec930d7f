"""The Logs endpoints: search, the lines of one execution (a task run, a minimum level), download
as text, and follow as server-sent events until the execution ends.

The lines of one execution are read live from the backend (``Backend.logs``) while it holds the
execution, and from the search index otherwise (older than this process, on Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.api._executions import FOLLOW_FIND_SECONDS, find_execution, since
from kestra_stream.api._feed import open_event_stream, send_event, send_keepalive
from kestra_stream.api._http import json_response, query, services
from kestra_stream.api._query_filters import LOG_FILTERS, filtered_query
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import LogLevel
from kestra_stream.search import MAX_PAGE_SIZE, LogQuery, Paging
from kestra_stream.search import execution_logs as indexed_logs

routes = ApiRoutes("Logs")

_QUERY = ConfigDict(frozen=True, populate_by_name=True)
# How often a follower looks for new lines; lines are not pushed by every backend.
POLL_SECONDS = 0.2
KEEPALIVE_EVERY = 50  # polls between two keep-alive comments (10 s)
# Once ended, how long the backend may take to have read every line written before the end (Kafka).
SETTLE_SECONDS = 10.0


class SearchLogsQuery(BaseModel):
    model_config = _QUERY

    q: str | None = Field(default=None, description="Words of the message.")
    namespace: str | None = Field(default=None, description="The namespace, or a parent of it.")
    flow_id: str | None = Field(default=None, alias="flowId")
    min_level: LogLevel | None = Field(default=None, alias="minLevel")
    start_date: datetime | None = Field(default=None, alias="startDate", description="Lines written at or after.")
    end_date: datetime | None = Field(default=None, alias="endDate", description="Lines written before.")
    time_range: timedelta | None = Field(default=None, alias="timeRange", description="Lines written within this "
                                         "ISO-8601 duration before now (PT1H); instead of `startDate`.")
    page: int = Field(default=1, ge=1)
    size: int = Field(default=10, ge=1, le=MAX_PAGE_SIZE)


class LogPage(BaseModel):
    results: list[LogEntry]
    total: int
    # Kestra 2.x pages logs by offset or by cursor; this server pages by offset (``page``, ``size``).
    type: Literal["OFFSET"] = "OFFSET"


class ExecutionLogsQuery(BaseModel):
    model_config = _QUERY

    min_level: LogLevel | None = Field(default=None, alias="minLevel")
    task_run_id: str | None = Field(default=None, alias="taskRunId")
    task_id: str | None = Field(default=None, alias="taskId")


class FollowLogsQuery(BaseModel):
    model_config = _QUERY

    min_level: LogLevel | None = Field(default=None, alias="minLevel")


def keeps(entry: LogEntry, params: ExecutionLogsQuery | FollowLogsQuery) -> bool:
    if params.min_level is not None and entry.level.rank < params.min_level.rank:
        return False
    if isinstance(params, ExecutionLogsQuery):
        if params.task_run_id is not None and entry.taskrun_id != params.task_run_id:
            return False
        if params.task_id is not None and entry.task_id != params.task_id:
            return False
    return True


async def execution_logs(request: web.Request, execution_id: str) -> list[LogEntry]:
    """Every line of an execution in the order written: live from the backend, else from the index."""
    svc = services(request)
    if svc.backend.state(execution_id) is not None:
        return svc.backend.logs(execution_id)
    return await asyncio.to_thread(indexed_logs, svc.search, execution_id)


def pretty(entry: LogEntry) -> str:
    """One line of a downloaded log, as Kestra writes it: timestamp, level, message."""
    return f"{_iso(entry.timestamp)} {entry.level.value} {entry.message}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@routes.route("GET", "/logs/search", summary="Search log lines", query=SearchLogsQuery, response=LogPage)
async def search_logs(request: web.Request) -> web.StreamResponse:
    params = filtered_query(request, SearchLogsQuery, LOG_FILTERS)
    log_query = LogQuery(namespace=params.namespace, flow_id=params.flow_id, min_level=params.min_level,
                         text=params.q, start_date=since(params.start_date, params.time_range),
                         end_date=params.end_date,
                         paging=Paging(page=params.page, size=params.size))
    page = await asyncio.to_thread(services(request).search.search_logs, log_query)
    return json_response(LogPage(results=page.items, total=page.total))


@routes.route("GET", "/logs/{executionId}", summary="The log lines of an execution", query=ExecutionLogsQuery,
              response=list[LogEntry])
async def get_execution_logs(request: web.Request) -> web.StreamResponse:
    params = query(request, ExecutionLogsQuery)
    lines = await execution_logs(request, request.match_info["executionId"])
    return json_response([entry for entry in lines if keeps(entry, params)])


@routes.route("GET", "/logs/{executionId}/download", summary="Download the log lines of an execution as text",
              query=ExecutionLogsQuery, response_content="text/plain")
async def download_execution_logs(request: web.Request) -> web.StreamResponse:
    params = query(request, ExecutionLogsQuery)
    execution_id = request.match_info["executionId"]
    lines = await execution_logs(request, execution_id)
    text = "\n".join(pretty(entry) for entry in lines if keeps(entry, params))
    return web.Response(text=text, content_type="text/plain", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(execution_id)}.log"})


@routes.route("GET", "/logs/{executionId}/follow", summary="Follow the log lines of an execution (server-sent "
              "events) until it ends", query=FollowLogsQuery, response_content="text/event-stream")
async def follow_execution_logs(request: web.Request) -> web.StreamResponse:
    """Every line, those already written first, each as an event ``id: progress``; the stream ends with the
    execution."""
    params = query(request, FollowLogsQuery)
    execution_id = request.match_info["executionId"]
    execution = await find_execution(request, execution_id, within=FOLLOW_FIND_SECONDS)
    backend = services(request).backend
    response = await open_event_stream(request)
    sent = 0
    polls = 0
    while True:
        state = backend.state(execution_id)
        ended = execution.state.current.is_terminated if state is None else state.finished
        if ended and state is not None:
            # Every line written before the end is read once wait() returns (the Kafka client reads up to them).
            with contextlib.suppress(TimeoutError):
                await backend.wait(execution_id, SETTLE_SECONDS)
        lines = await execution_logs(request, execution_id)
        for entry in lines[sent:]:
            if keeps(entry, params):
                await send_event(response, "progress", entry)
        sent = max(sent, len(lines))
        if ended:
            return response
        polls += 1
        if polls % KEEPALIVE_EVERY == 0:
            await send_keepalive(response)
        await asyncio.sleep(POLL_SECONDS)
