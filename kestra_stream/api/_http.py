"""What handlers use to read a request and write an answer, with the limits a server needs.

A body is read within ``body_timeout_seconds`` and ``max_body_bytes`` (aiohttp enforces the size),
so a slow client gets a 408 rather than holding a handler; query strings and JSON bodies are
validated by pydantic and refused with every problem listed.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar, get_origin

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_json

from kestra_stream.api._errors import ApiError, validation_details
from kestra_stream.api._services import ApiServices

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

SERVICES: web.AppKey[ApiServices] = web.AppKey("services", ApiServices)


def services(request: web.Request) -> ApiServices:
    return request.config_dict[SERVICES]


def query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``: a list field takes every repetition of its name."""
    return validated_query(model, query_data(request, model))


def query_data(request: web.Request, model: type[BaseModel]) -> dict[str, Any]:
    """The query string by name, a list of values for a list field of ``model``, else the last value."""
    return {name: values if is_list_field(model, name) else values[-1]
            for name in request.query for values in [request.query.getall(name)]}


def validated_query(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "invalid query parameters", validation_details(exc)) from None


def is_list_field(model: type[BaseModel], name: str) -> bool:
    field = _field(model, name)
    return field is not None and get_origin(field.annotation) in (list, tuple, set)


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias, field.validation_alias):
            return field
    return None


async def read_body(request: web.Request) -> bytes:
    timeout = services(request).settings.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout:g} s") from None


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """A multipart or url-encoded body, within the body time limit; a malformed one is a 400."""
    timeout = services(request).settings.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await request.post()  # bounded by the app's client_max_size (413 beyond it)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout:g} s") from None
    except (ValueError, HttpProcessingError) as exc:  # a malformed part (header, boundary, encoding)
        raise ApiError(400, f"the form cannot be read: {exc}") from None


async def read_text(request: web.Request) -> str:
    body = await read_body(request)
    try:
        return body.decode(request.charset or "utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid UTF-8 text") from None


async def read_json(request: web.Request, type_: type[T] | Any) -> T:
    """The JSON body validated as ``type_`` (a model, or any type pydantic reads)."""
    body = await read_body(request)
    if not body:
        raise ApiError(400, "a JSON body is required")
    try:
        value: T = TypeAdapter(type_).validate_json(body)
    except ValidationError as exc:
        details = validation_details(exc)
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "the request body is not valid JSON", details) from None
        raise ApiError(422, "the request body is invalid", details) from None
    return value


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """``value`` (models, lists and maps of them, dates ...) as Kestra writes JSON: camelCase names."""
    return web.Response(body=to_json(value, by_alias=True), status=status, content_type="application/json",
                        headers=headers)
