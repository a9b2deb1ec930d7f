"""The application shell: tenant aliases, the OpenAPI document, errors as JSON, authentication."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kestra_stream.api import ApiRoutes, ApiSettings, create_app
from kestra_stream.api._http import json_response, read_json
from kestra_stream.api._routes import openapi_document
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.errors import ExecutionStateError, NotFoundError
from kestra_stream.search import SqliteRepository
from tests.api.conftest import build_services

routes = ApiRoutes("Test")


@routes.route("GET", "/things/{name}", summary="a thing", errors=(409,))
async def get_thing(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "missing":
        raise NotFoundError(f"thing '{name}' does not exist")
    if name == "busy":
        raise ExecutionStateError("the thing is busy", execution_id="x")
    if name == "boom":
        raise RuntimeError("secret internals")
    return web.json_response({"name": name})


@routes.route("POST", "/echo", summary="echo a JSON body", body=dict[str, int], response=dict[str, int])
async def echo(request: web.Request) -> web.StreamResponse:
    return json_response(await read_json(request, dict[str, int]))


@routes.route("GET", "/ping", summary="public", public=True)
async def ping(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as engine:
        yield engine


def _client(engine: EmbeddedEngine, settings: ApiSettings) -> TestClient[web.Request, web.Application]:
    """The shell with the test routes above only: it does not depend on the backend."""
    services = build_services(engine, engine.flows, SqliteRepository(":memory:"), engine.storage, "embedded",
                              settings)
    return TestClient(TestServer(create_app(services, tables=[routes])))


async def test_paths_are_served_under_api_v1_and_the_main_tenant(engine: EmbeddedEngine) -> None:
    async with _client(engine, ApiSettings()) as client:
        for prefix in ("/api/v1", "/api/v1/main"):
            answer = await client.get(f"{prefix}/things/a")
            assert answer.status == 200 and await answer.json() == {"name": "a"}
        assert (await client.get("/api/v1/other/things/a")).status == 404


async def test_errors_are_json_with_the_status_that_fits_and_no_traceback(engine: EmbeddedEngine) -> None:
    async with _client(engine, ApiSettings()) as client:
        missing = await client.get("/api/v1/things/missing")
        assert missing.status == 404 and "does not exist" in (await missing.json())["message"]
        busy = await client.get("/api/v1/things/busy")
        assert busy.status == 409
        boom = await client.get("/api/v1/things/boom")
        body = await boom.json()
        assert boom.status == 500 and "secret internals" not in body["message"]
        unknown = await client.get("/api/v1/nowhere")
        assert unknown.status == 404 and "message" in await unknown.json()


async def test_authentication_guards_every_endpoint_but_public_ones(engine: EmbeddedEngine) -> None:
    settings = ApiSettings.model_validate({"basic_auth": {"admin": "s3cret"}, "tokens": ["tok-1"]})
    async with _client(engine, settings) as client:
        assert (await client.get("/api/v1/things/a")).status == 401
        assert (await client.get("/api/v1/ping")).status == 200
        good = "Basic " + base64.b64encode(b"admin:s3cret").decode()
        bad = "Basic " + base64.b64encode(b"admin:wrong").decode()
        assert (await client.get("/api/v1/things/a", headers={"Authorization": good})).status == 200
        assert (await client.get("/api/v1/things/a", headers={"Authorization": bad})).status == 401
        assert (await client.get("/api/v1/things/a", headers={"Authorization": "Bearer tok-1"})).status == 200
        assert (await client.get("/api/v1/things/a", headers={"Authorization": "Bearer tok-2"})).status == 401


def test_the_openapi_document_lists_each_endpoint_with_its_error_answers() -> None:
    document = openapi_document([routes], version="1")
    operation = document["paths"]["/api/v1/things/{name}"]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "404", "409", "422"}
    assert document["paths"]["/api/v1/ping"]["get"]["security"] == []


async def test_a_body_over_the_limit_is_refused_with_413(engine: EmbeddedEngine) -> None:
    settings = ApiSettings(max_body_bytes=1024)
    async with _client(engine, settings) as client:
        small = await client.post("/api/v1/echo", json={"a": 1})
        assert small.status == 200 and await small.json() == {"a": 1}
        big = await client.post("/api/v1/echo", data=b"x" * 4096, headers={"Content-Type": "application/json"})
        assert big.status == 413 and "message" in await big.json()


async def test_a_client_sending_its_body_too_slowly_gets_408_and_the_server_goes_on(engine: EmbeddedEngine) -> None:
    settings = ApiSettings(body_timeout_seconds=0.3)
    async with _client(engine, settings) as client:
        assert client.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(b"POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"a\":")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 60)
        writer.close()
        assert b" 408 " in status_line
        assert (await client.post("/api/v1/echo", json={"b": 2})).status == 200


async def test_a_json_body_of_the_wrong_shape_is_422_and_broken_json_is_400(engine: EmbeddedEngine) -> None:
    async with _client(engine, ApiSettings()) as client:
        wrong = await client.post("/api/v1/echo", json={"a": "not a number"})
        body = await wrong.json()
        assert wrong.status == 422 and body["errors"][0]["path"] == "a"
        broken = await client.post("/api/v1/echo", data=b"{nope", headers={"Content-Type": "application/json"})
        assert broken.status == 400 and "not valid JSON" in (await broken.json())["message"]
    document = openapi_document([routes], version="1")
    assert set(document["paths"]["/api/v1/echo"]["post"]["responses"]) >= {"200", "400", "408", "413", "422"}
