"""http.Request and http.Download against a local aiohttp server started in the test, run in the worker's
real TaskRunContext with a temporary LocalStorage."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core
import pytest
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer

from kestra_stream import encryption
from kestra_stream.errors import TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.models.log import LogEntry
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.task import RunnableTask
from kestra_stream.plugins.registry import PluginKind, PluginRegistry
from kestra_stream.storage import LocalStorage, is_within, task_uri
from kestra_stream.worker import TaskRunContext

CSV = b"id,name\n1,a\n2,b\n"


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"method": request.method, "contentType": request.headers.get("Content-Type"),
                              "body": await request.text(), "auth": request.headers.get("Authorization"),
                              "custom": request.headers.get("X-Custom"), "query": dict(request.query)})


async def _form(request: web.Request) -> web.Response:
    fields: dict[str, Any] = {}
    if request.content_type == "multipart/form-data":
        async for part in await request.multipart():
            assert isinstance(part, BodyPartReader)
            content = await part.read()
            fields[part.name or ""] = {"filename": part.filename, "content": content.decode()}
    else:
        fields = dict(await request.post())
    return web.json_response({"contentType": request.content_type, "fields": fields})


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code} body")


async def _csv(request: web.Request) -> web.Response:
    headers = {"Content-Disposition": 'attachment; filename="../../orders.csv"'} if "named" in request.query else {}
    return web.Response(body=CSV, content_type="text/csv", headers=headers)


async def _empty(request: web.Request) -> web.Response:
    return web.Response(body=b"")


_HITS: list[str] = []


async def _counted(request: web.Request) -> web.Response:
    _HITS.append(request.method)
    return web.Response(text="counted")


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/echo")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_post("/form", _form)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/data/orders.csv", _csv)
    app.router.add_get("/empty", _empty)
    app.router.add_get("/redirect", _redirect)
    app.router.add_route("*", "/counted", _counted)
    test_server = TestServer(app)
    await test_server.start_server()
    try:
        yield str(test_server.make_url("")).rstrip("/")
    finally:
        await test_server.close()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def _task(cls: type[PluginModel], **raw: Any) -> RunnableTask:
    assert cls.plugin is not None
    task = cls.model_validate({"type": cls.plugin.type, "id": "fetch", **raw})
    assert isinstance(task, RunnableTask)
    return task


async def _run(storage: LocalStorage, tmp_path: Path, cls: type[PluginModel], *,
               environ: dict[str, str] | None = None, **raw: Any) -> Any:
    task = _task(cls, **raw)
    job = RunTask(execution_id="E1", taskrun_id="R1", attempt=1, task=task, namespace="company.team",
                  flow_id="flow", variables={"flow": {"id": "flow", "namespace": "company.team"},
                                             "execution": {"id": "E1"}, "task": {"id": "fetch"},
                                             "inputs": {"name": "kestra", "doc": {"a": 1}}})
    logs: list[LogEntry] = []
    ctx = TaskRunContext(job, emit_log=logs.append, storage=storage, workdir_root=tmp_path / "work",
                         environ=environ or {})
    try:
        return await task.run(ctx)
    finally:
        ctx.cleanup()


async def test_get_returns_code_headers_and_body_text(server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Request, uri=server + "/echo?q={{ inputs.name }}",
                     headers={"X-Custom": "{{ inputs.name }}"})
    assert out["code"] == 200
    assert out["uri"] == server + "/echo?q=kestra"
    assert out["headers"]["Content-Type"] == ["application/json; charset=utf-8"]
    body = json.loads(out["body"])
    assert body["method"] == "GET" and body["custom"] == "kestra" and body["query"] == {"q": "kestra"}


async def test_post_sends_a_rendered_json_body_with_its_content_type(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Request, uri=server + "/echo", method="post",
                     contentType="application/json", body='{"name": "{{ inputs.name }}"}')
    body = json.loads(out["body"])
    assert body["method"] == "POST" and body["contentType"] == "application/json"
    assert json.loads(body["body"]) == {"name": "kestra"}


async def test_a_map_body_is_sent_as_json(server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Request, uri=server + "/echo", method="PUT",
                     body={"doc": "{{ inputs.doc }}", "n": 1})
    body = json.loads(out["body"])
    assert body["contentType"] == "application/json"
    assert json.loads(body["body"]) == {"doc": {"a": 1}, "n": 1}


async def test_form_data_is_sent_urlencoded_by_default(server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Request, uri=server + "/form", method="POST",
                     formData={"user": "{{ inputs.name }}", "count": 3})
    assert json.loads(out["body"]) == {"contentType": "application/x-www-form-urlencoded",
                                       "fields": {"user": "kestra", "count": "3"}}


async def test_multipart_form_data_uploads_files_from_internal_storage(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    stored = await storage.put(task_uri("company.team", "flow", "E1", "prev", "R0", "data.csv"), CSV)
    out = await _run(storage, tmp_path, core.Request, uri=server + "/form", method="POST",
                     contentType="multipart/form-data",
                     formData={"title": "orders", "file": stored, "renamed": {"name": "x.csv", "content": stored}})
    answer = json.loads(out["body"])
    assert answer["contentType"] == "multipart/form-data"
    assert answer["fields"] == {"title": {"filename": None, "content": "orders"},
                                "file": {"filename": "data.csv", "content": CSV.decode()},
                                "renamed": {"filename": "x.csv", "content": CSV.decode()}}


async def test_basic_auth_options_set_the_authorization_header(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Request, uri=server + "/echo",
                     options={"basicAuthUser": "u", "basicAuthPassword": "p"})
    assert json.loads(out["body"])["auth"] == "Basic dTpw"


async def test_an_error_status_fails_the_task_with_the_answer(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match=r"HTTP GET .*/status/503 answered 503 Service Unavailable: status 503 body"):
        await _run(storage, tmp_path, core.Request, uri=server + "/status/503")


@pytest.mark.parametrize("allow", [{"allowFailed": True}, {"options": {"allowFailed": True}}])
async def test_allow_failed_returns_the_error_status_as_outputs(
        server: str, storage: LocalStorage, tmp_path: Path, allow: dict[str, Any]) -> None:
    out = await _run(storage, tmp_path, core.Request, uri=server + "/status/404", **allow)
    assert (out["code"], out["body"]) == (404, "status 404 body")


async def test_encrypt_body_outputs_the_body_encrypted_with_the_servers_key_and_no_clear_body(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    key_text = base64.b64encode(bytes(32)).decode()
    out = await _run(storage, tmp_path, core.Request, uri=server + "/status/201", encryptBody=True,
                     environ={encryption.KEY_VARIABLE: key_text})
    assert out["code"] == 201 and out["body"] is None
    assert out["encryptedBody"]["type"] == "io.kestra.datatype:aes_encrypted"
    key = encryption.key_from({encryption.KEY_VARIABLE: key_text})
    assert encryption.decrypt(key, out["encryptedBody"]["value"]) == "status 201 body"


async def test_encrypt_body_without_a_key_fails_before_sending_the_request(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    _HITS.clear()
    with pytest.raises(TaskFailure, match="KESTRA_STREAM_ENCRYPTION_SECRET_KEY"):
        await _run(storage, tmp_path, core.Request, uri=server + "/counted", method="POST", encryptBody=True)
    assert _HITS == []


async def test_an_error_status_with_encrypt_body_keeps_the_body_out_of_the_error(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    environ = {encryption.KEY_VARIABLE: base64.b64encode(bytes(32)).decode()}
    with pytest.raises(TaskFailure, match="answered 503") as failure:
        await _run(storage, tmp_path, core.Request, uri=server + "/status/503", encryptBody=True, environ=environ)
    assert "status 503 body" not in str(failure.value)


async def test_redirects_are_followed_unless_disabled(server: str, storage: LocalStorage, tmp_path: Path) -> None:
    followed = await _run(storage, tmp_path, core.Request, uri=server + "/redirect")
    assert followed["code"] == 200
    kept = await _run(storage, tmp_path, core.Request, uri=server + "/redirect", options={"followRedirects": False})
    assert kept["code"] == 302 and kept["headers"]["Location"] == ["/echo"]


async def test_a_read_timeout_fails_the_task_before_the_slow_answer_comes(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    # /slow answers after 5 s: had the timeout been ignored, the task would succeed with "late".
    with pytest.raises(TaskFailure, match="timed out"):
        await _run(storage, tmp_path, core.Request, uri=server + "/slow", options={"readTimeout": "PT0.2S"})
    with pytest.raises(TaskFailure, match="timed out"):
        await _run(storage, tmp_path, core.Request, uri=server + "/slow",
                   options={"timeout": {"readIdleTimeout": "PT0.2S"}})


async def test_max_content_length_bounds_the_answer(server: str, storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match=r"larger than options\.maxContentLength"):
        await _run(storage, tmp_path, core.Request, uri=server + "/data/orders.csv", options={"maxContentLength": 4})


async def test_unreachable_and_invalid_urls_fail_with_the_cause(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match="expected an http:// or https:// URL"):
        await _run(storage, tmp_path, core.Request, uri="ftp://example.com/x")
    with pytest.raises(TaskFailure, match=r"HTTP GET http://127\.0\.0\.1:9/ failed: ClientConnectorError"):
        await _run(storage, tmp_path, core.Request, uri="http://127.0.0.1:9/")


async def test_download_stores_the_content_in_this_task_run_folder(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Download, uri=server + "/data/orders.csv")
    assert (out["code"], out["length"]) == (200, len(CSV))
    assert out["headers"]["Content-Type"] == ["text/csv"]
    assert out["uri"].endswith("-orders.csv")
    assert is_within(out["uri"], task_uri("company.team", "flow", "E1", "fetch", "R1"))
    assert await storage.get(out["uri"]) == CSV


async def test_download_names_the_file_from_content_disposition_without_its_path(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    out = await _run(storage, tmp_path, core.Download, uri=server + "/data/orders.csv?named=1")
    assert out["uri"].rsplit("/", 1)[-1].endswith("-orders.csv")
    assert is_within(out["uri"], task_uri("company.team", "flow", "E1", "fetch", "R1"))


async def test_download_of_an_empty_answer_fails_unless_allowed(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match="no content; set failOnEmptyResponse: false"):
        await _run(storage, tmp_path, core.Download, uri=server + "/empty")
    out = await _run(storage, tmp_path, core.Download, uri=server + "/empty", failOnEmptyResponse=False)
    assert out["length"] == 0 and await storage.get(out["uri"]) == b""


async def test_download_of_an_error_status_fails_or_is_reported_with_allow_failed(
        server: str, storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match="answered 500"):
        await _run(storage, tmp_path, core.Download, uri=server + "/status/500")
    out = await _run(storage, tmp_path, core.Download, uri=server + "/status/500", allowFailed=True)
    assert (out["code"], out["uri"], out["length"]) == (500, None, 0)
    assert await storage.list("kestra:///") == []


def test_http_tasks_load_under_current_and_older_kestra_names() -> None:
    registry = PluginRegistry.from_entry_points()
    for name in ("io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request", "http.Request"):
        assert registry.resolve(PluginKind.TASK, name) is core.Request
    for name in ("io.kestra.plugin.core.http.Download", "io.kestra.plugin.fs.http.Download", "http.Download"):
        assert registry.resolve(PluginKind.TASK, name) is core.Download


def test_unknown_options_and_methods_are_refused_at_load_time() -> None:
    with pytest.raises(ValueError, match="options"):
        _task(core.Request, uri="http://x", options={"readTimeot": "PT1S"})
    with pytest.raises(ValueError, match="method"):
        _task(core.Request, uri="http://x", method="FETCH")
