"""Commands on several executions at once, named by their ids (Kestra's ``.../by-ids`` endpoints).

    DELETE /executions/kill/by-ids       kill every execution (none may have ended)
    POST   /executions/restart/by-ids    restart every execution (each FAILED or KILLED)
    POST   /executions/replay/by-ids     replay every execution from its start (each ended)
    DELETE /executions/by-ids            delete every execution (each ended)

The body is the list of ids. As in Kestra, all or nothing: every execution is checked first and,
if one cannot take the command (unknown, or in the wrong state), nothing is done and the answer is
a 400 listing each refused id with its reason; otherwise ``{"count": n}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.api._errors import ApiError, ErrorDetail
from kestra_stream.api._executions import (
    check_deletable,
    check_killable,
    delete_ended,
    find_execution,
    replay_of,
)
from kestra_stream.api._http import json_response, read_json, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.errors import ExecutionStateError, NotFoundError
from kestra_stream.executor.requests import check_replay, check_restart
from kestra_stream.models.execution import Execution

routes = ApiRoutes("Executions")

Check = Callable[[Execution], None]
Act = Callable[[web.Request, Execution], Awaitable[None]]
_IDS = list[str]
MAX_IDS = 1000


class BulkResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    count: int = Field(description="How many executions took the command.")


async def _checked(request: web.Request, ids: list[str], check: Check, command: str) -> list[Execution]:
    if len(ids) > MAX_IDS:
        raise ApiError(422, f"{len(ids)} ids given: a bulk {command} takes at most {MAX_IDS}; split the list")
    executions: list[Execution] = []
    refused: list[ErrorDetail] = []
    for execution_id in dict.fromkeys(ids):
        try:
            execution = await find_execution(request, execution_id)
            check(execution)
        except (NotFoundError, ExecutionStateError) as exc:
            refused.append(ErrorDetail(message=str(exc), path=execution_id))
            continue
        executions.append(execution)
    if refused:
        raise ApiError(400, f"invalid bulk {command}: {len(refused)} of {len(ids)} execution(s) refused (see "
                            "`errors`, by id); nothing was done", refused)
    return executions


async def _bulk(request: web.Request, check: Check, act: Act, command: str) -> web.StreamResponse:
    ids: list[str] = await read_json(request, _IDS)
    executions = await _checked(request, ids, check, command)
    for execution in executions:
        await act(request, execution)
    return json_response(BulkResponse(count=len(executions)))


async def _kill(request: web.Request, execution: Execution) -> None:
    await services(request).backend.kill(execution.id)


async def _restart(request: web.Request, execution: Execution) -> None:
    await services(request).backend.restart(execution.id)


async def _replay(request: web.Request, execution: Execution) -> None:
    await replay_of(request, execution, None)


def _check_replay(execution: Execution) -> None:
    check_replay(execution, None)


_ROUTE: dict[str, Any] = {"body": _IDS, "response": BulkResponse, "errors": (400,)}


@routes.route("DELETE", "/executions/kill/by-ids", summary="Kill executions by their ids", **_ROUTE)
async def kill_by_ids(request: web.Request) -> web.StreamResponse:
    return await _bulk(request, check_killable, _kill, "kill")


@routes.route("POST", "/executions/restart/by-ids", summary="Restart failed or killed executions by their ids",
              **_ROUTE)
async def restart_by_ids(request: web.Request) -> web.StreamResponse:
    return await _bulk(request, check_restart, _restart, "restart")


@routes.route("POST", "/executions/replay/by-ids", summary="Replay ended executions from their start, by their ids",
              **_ROUTE)
async def replay_by_ids(request: web.Request) -> web.StreamResponse:
    return await _bulk(request, _check_replay, _replay, "replay")


@routes.route("DELETE", "/executions/by-ids", summary="Delete ended executions by their ids", **_ROUTE)
async def delete_by_ids(request: web.Request) -> web.StreamResponse:
    return await _bulk(request, check_deletable, delete_ended, "delete")
