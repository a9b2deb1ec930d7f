"""Every failure answered as JSON a person can act on, with the status that fits; never a traceback.

    ApiError (raised by handlers)        its own status
    FlowValidationError                  422, every problem with its line and column
    InputError                           422, naming the input
    ExecutionBlockedError                422, the blocking flow check's message
    ExpressionError                      422, quoting the expression
    NotFoundError, StorageFileNotFound   404
    ExecutionStateError, TriggerStateError 409
    pydantic ValidationError             400 (a query string or body that does not parse)
    aiohttp HTTPException                its own status (404 of an unknown path, 405, 413 ...)
    anything else                        500 "internal error", logged with its traceback
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, ValidationError

from kestra_stream.errors import (
    ExecutionBlockedError,
    ExecutionStateError,
    ExpressionError,
    FlowValidationError,
    InputError,
    KestraStreamError,
    NotFoundError,
    PluginError,
    TriggerStateError,
)
from kestra_stream.storage import StorageFileNotFoundError

log = structlog.get_logger(__name__)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    message: str
    path: str | None = None
    line: int | None = None
    column: int | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    model_config = ConfigDict(frozen=True)

    message: str
    errors: list[ErrorDetail] = []


class ApiError(KestraStreamError):
    """Raised by a handler to answer ``status`` with ``message`` (and details)."""

    def __init__(self, status: int, message: str, errors: Sequence[ErrorDetail] = ()) -> None:
        self.status = status
        self.message = message
        self.errors = list(errors)
        super().__init__(message)


def error_response(status: int, message: str, errors: Sequence[ErrorDetail] = (),
                   headers: dict[str, str] | None = None) -> web.Response:
    body = ErrorResponse(message=message, errors=list(errors)).model_dump_json(exclude_none=True)
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def validation_details(exc: ValidationError) -> list[ErrorDetail]:
    return [ErrorDetail(message=error["msg"], path=".".join(str(p) for p in error["loc"]) or None)
            for error in exc.errors(include_url=False)]


def _answer(exc: Exception) -> web.Response:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.errors)
    if isinstance(exc, FlowValidationError):
        details = [ErrorDetail(message=p.message, path=p.path or None, line=p.line, column=p.column)
                   for p in exc.problems]
        return error_response(422, f"the flow is invalid ({len(details)} problem(s))", details)
    if isinstance(exc, InputError | ExpressionError | PluginError | ExecutionBlockedError):
        return error_response(422, str(exc))
    if isinstance(exc, NotFoundError | StorageFileNotFoundError):
        return error_response(404, str(exc))
    if isinstance(exc, ExecutionStateError | TriggerStateError):
        return error_response(409, str(exc))
    if isinstance(exc, ValidationError):
        return error_response(400, "the request is invalid", validation_details(exc))
    raise exc


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.text or exc.reason,
                              headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"})
    except (KestraStreamError, ValidationError) as exc:
        try:
            return _answer(exc)
        except KestraStreamError:
            pass  # a backend failure nobody asked for: a 500 below, logged with its cause
        log.exception("api_backend_error", method=request.method, path=request.path)
        return error_response(500, f"internal error: {exc}")
    except Exception:
        log.exception("api_internal_error", method=request.method, path=request.path)
        return error_response(500, "internal error; the server log has the details")
