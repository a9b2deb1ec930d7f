"""``http.Request`` (call an HTTP endpoint), ``http.Download`` (a URL's content into internal storage)
and ``http.Trigger`` (poll an endpoint, start an execution when its answer meets a condition), on
aiohttp's client."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from kestra_stream.durations import Duration
from kestra_stream.errors import TaskFailure
from kestra_stream.expressions import is_truthy
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import (
    LogLevel,
    PollingTrigger,
    RunContext,
    RunnableTask,
    TriggerContext,
)
from kestra_stream.storage import PREFIX, StorageError
from kestra_stream.worker import task_file_uri
from kestra_stream_plugin_core._base import Props, as_text

if TYPE_CHECKING:
    import aiohttp

    from kestra_stream.storage import Storage

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]
MULTIPART = "multipart/form-data"
_CHUNK = 1 << 16


class TimeoutOptions(Props):
    connect_timeout: Duration | None = None
    read_idle_timeout: Duration | None = None


class AuthOptions(Props):
    type: Literal["BASIC", "BEARER"] = "BASIC"
    username: str | None = None
    password: str | None = None
    token: str | None = None


class HttpOptions(Props):
    """Kestra's ``options`` of HTTP tasks; the proxy, pool and log settings are accepted and, except an
    HTTP proxy, have no effect here."""

    connect_timeout: Duration | None = None
    read_timeout: Duration | None = None
    read_idle_timeout: Duration | None = None
    connection_pool_idle_timeout: Duration | None = None
    timeout: TimeoutOptions | None = None
    max_content_length: int | None = Field(default=None, gt=0)
    follow_redirects: bool = True
    default_charset: str = "UTF-8"
    basic_auth_user: str | None = None
    basic_auth_password: str | None = None
    auth: AuthOptions | None = None
    allow_failed: bool | None = None
    proxy_type: Literal["DIRECT", "HTTP", "SOCKS"] | None = None
    proxy_address: str | None = None
    proxy_port: int | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None
    log_level: str | None = None
    logs: list[str] | None = None


class SslOptions(Props):
    insecure_trust_all_certificates: bool | None = None


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


class _Rendering(Protocol):
    """What building a request needs: a task's RunContext, or a trigger's context through ``_TriggerRendering``."""

    @property
    def storage(self) -> Storage: ...
    def render(self, value: Any) -> Any: ...
    def render_string(self, value: Any) -> str: ...


@dataclass(frozen=True)
class _Answer:
    url: str
    code: int
    reason: str | None
    headers: dict[str, list[str]]
    body: str | None


class _HttpCall(PluginModel):
    """The request properties of the HTTP tasks and of http.Trigger (Kestra's HttpInterface)."""

    if TYPE_CHECKING:
        id: str  # declared by the task or trigger base; only named here for the error messages

    uri: str = Field(description="The URL to call (http or https).")
    method: Method = Field(default="GET", description="The HTTP method.")
    body: str | dict[str, Any] | list[Any] | None = Field(
        default=None, description="The request body, rendered; a map or list is sent as JSON.")
    form_data: dict[str, Any] | None = Field(
        default=None, description="Form fields (urlencoded, or multipart with contentType multipart/form-data).")
    content_type: str | None = Field(default=None, description="The request's Content-Type.")
    headers: dict[str, Any] | None = Field(default=None, description="Request headers, rendered.")
    options: HttpOptions | None = Field(default=None, description="Timeouts, redirects, authentication ...")
    ssl_options: SslOptions | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def _url(self, ctx: _Rendering) -> str:
        url = ctx.render_string(self.uri).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TaskFailure(f"invalid uri {url!r}: expected an http:// or https:// URL", task_id=self.id)
        return url

    def _timeout(self) -> aiohttp.ClientTimeout:
        import aiohttp  # on first use: a flow without HTTP tasks does not pay for the client
        options = self.options or HttpOptions()
        nested = options.timeout or TimeoutOptions()
        connect = options.connect_timeout or nested.connect_timeout
        idle = options.read_idle_timeout or nested.read_idle_timeout
        # The task's own `timeout` bounds the whole attempt; these only bound phases of the call.
        return aiohttp.ClientTimeout(total=_seconds(options.read_timeout), sock_connect=_seconds(connect),
                                     connect=_seconds(connect), sock_read=_seconds(idle))

    def _headers(self, ctx: _Rendering) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in (self.headers or {}).items():
            rendered = ctx.render(value)
            text = ", ".join(as_text(v) for v in rendered) if isinstance(rendered, list) else as_text(rendered)
            headers[ctx.render_string(name)] = text
        options = self.options or HttpOptions()
        if options.basic_auth_user is not None and options.basic_auth_password is not None:
            headers["Authorization"] = _basic(ctx.render_string(options.basic_auth_user),
                                              ctx.render_string(options.basic_auth_password))
        elif options.auth is not None:
            if options.auth.type == "BEARER" and options.auth.token is not None:
                headers["Authorization"] = f"Bearer {ctx.render_string(options.auth.token)}"
            elif options.auth.username is not None:
                headers["Authorization"] = _basic(ctx.render_string(options.auth.username),
                                                  ctx.render_string(options.auth.password or ""))
        if self.content_type is not None and not (self.form_data and self.content_type == MULTIPART):
            headers["Content-Type"] = ctx.render_string(self.content_type)
        return headers

    async def _payload(self, ctx: _Rendering, headers: dict[str, str]) -> Any:
        import aiohttp  # on first use: a flow without HTTP tasks does not pay for the client
        if self.form_data is not None:
            multipart = self.content_type is not None and ctx.render_string(self.content_type) == MULTIPART
            fields: list[tuple[str, str | bytes, str | None]] = []
            for raw_key, raw_value in self.form_data.items():
                key = ctx.render_string(raw_key)
                value = ctx.render(raw_value)
                if multipart and isinstance(value, str) and value.startswith(PREFIX):
                    fields.append((key, await self._stored(ctx, value), unquote(value.rsplit("/", 1)[-1])))
                elif multipart and isinstance(value, Mapping) and {"name", "content"} <= value.keys():
                    fields.append((key, await self._stored(ctx, str(value["content"])), str(value["name"])))
                else:
                    fields.append((key, value if isinstance(value, str) else json.dumps(value), None))
            if not multipart:
                return aiohttp.FormData([(key, str(value)) for key, value, _ in fields])
            writer = aiohttp.MultipartWriter("form-data")
            for key, value, filename in fields:
                part = writer.append(value)
                if filename is None:
                    part.set_content_disposition("form-data", name=key)
                else:
                    part.set_content_disposition("form-data", name=key, filename=filename)
            return writer
        if self.body is None:
            return None
        body = ctx.render(self.body)
        if isinstance(body, Mapping | list):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(body).encode()
        return as_text(body).encode()

    async def _stored(self, ctx: _Rendering, uri: str) -> bytes:
        try:
            return await ctx.storage.get(uri)
        except StorageError as exc:
            raise TaskFailure(f"cannot send form file {uri}: {exc}", task_id=self.id) from exc

    def _session(self) -> aiohttp.ClientSession:
        import aiohttp  # on first use: a flow without HTTP tasks does not pay for the client
        insecure = bool(self.ssl_options and self.ssl_options.insecure_trust_all_certificates)
        return aiohttp.ClientSession(timeout=self._timeout(), connector=aiohttp.TCPConnector(ssl=not insecure))

    def _proxy(self, ctx: _Rendering) -> str | None:
        options = self.options
        if options is None or options.proxy_type != "HTTP" or not options.proxy_address or not options.proxy_port:
            return None
        return f"http://{ctx.render_string(options.proxy_address)}:{options.proxy_port}"

    def _timed_out(self, method: str, url: str) -> TaskFailure:
        return TaskFailure(f"HTTP {method} {url} timed out (options: connectTimeout, readTimeout, "
                           "readIdleTimeout); raise the timeouts or check the server", task_id=self.id)

    async def _fetch(self, ctx: _Rendering) -> _Answer:
        """Send the request and read the whole answer as text (HEAD: no body)."""
        import aiohttp  # on first use: a flow without HTTP tasks does not pay for the client
        url = self._url(ctx)
        headers = self._headers(ctx)
        payload = await self._payload(ctx, headers)
        limit = self.options.max_content_length if self.options else None
        charset = self.options.default_charset if self.options else "UTF-8"
        follow = self.options.follow_redirects if self.options else True
        try:
            async with self._session() as session, session.request(
                    self.method, url, headers=headers, data=payload, allow_redirects=follow,
                    proxy=self._proxy(ctx)) as response:
                raw = await _read_limited(response, limit, self.id, url)
                body = raw.decode(response.charset or charset, errors="replace")
                return _Answer(url, response.status, response.reason, _header_lists(response.headers),
                               body if self.method != "HEAD" else None)
        except TimeoutError as exc:
            raise self._timed_out(self.method, url) from exc
        except aiohttp.ClientError as exc:
            raise TaskFailure(f"HTTP {self.method} {url} failed: {type(exc).__name__}: {exc}",
                              task_id=self.id) from exc


class _HttpTask(_HttpCall, RunnableTask):
    allow_failed: bool = Field(default=False, description="Succeed even when the server answers 4xx or 5xx.")

    def _allow_failed(self) -> bool:
        return self.allow_failed or bool(self.options and self.options.allow_failed)

    def _failed(self, method: str, url: str, status: int, reason: str | None, body: str) -> TaskFailure:
        shown = f": {body[:500]}" if body else ""
        return TaskFailure(f"HTTP {method} {url} answered {status} {reason or ''}".rstrip() + shown +
                           "; set allowFailed: true to accept error statuses", task_id=self.id)


def _header_lists(headers: Any) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(str(name), []).append(str(value))
    return grouped


class Request(_HttpTask):
    """Call an HTTP endpoint; outputs ``code``, ``headers`` and ``body`` (text).

    With ``encryptBody``, the body is output as ``encryptedBody`` instead, encrypted with the server's key
    (``body`` is null); a later task's expressions read it in clear text, as in Kestra.
    """

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.http.Request",
        short="http.Request",
        aliases=("io.kestra.plugin.fs.http.Request", "io.kestra.core.tasks.http.Request"),
        title="Call an HTTP endpoint.",
        examples=("""\
id: post_json
namespace: company.team
tasks:
  - id: request
    type: io.kestra.plugin.core.http.Request
    uri: https://kestra.io/api/mock
    method: POST
    contentType: application/json
    body: '{"hello": "world"}'
""",),
    )

    encrypt_body: bool = Field(
        default=False, description="Output the body encrypted with the server's key, as encryptedBody (body is "
                                   "then null); later tasks read it in clear text. Needs the worker's "
                                   "KESTRA_STREAM_ENCRYPTION_SECRET_KEY.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.encrypt_body:
            ctx.encrypt("")  # no key fails the task before the request is sent, not after (a POST's effects)
        answer = await self._fetch(ctx)
        if answer.code >= 400 and not self._allow_failed():
            # An encrypted body stays out of the error message, which is logged in clear.
            shown = "" if self.encrypt_body else answer.body or ""
            raise self._failed(self.method, answer.url, answer.code, answer.reason, shown)
        ctx.log(LogLevel.DEBUG, f"Request '{answer.url}' with the response code '{answer.code}'")
        outputs: dict[str, Any] = {"uri": answer.url, "code": answer.code, "headers": answer.headers,
                                   "body": answer.body}
        if self.encrypt_body:
            encrypted = ctx.encrypt(answer.body) if answer.body is not None else None
            outputs.update(body=None, encryptedBody=encrypted)
        return outputs


async def _read_limited(response: aiohttp.ClientResponse, limit: int | None, task_id: str, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise TaskFailure(f"the answer of {url} is larger than options.maxContentLength ({limit} bytes); "
                              "raise it or use io.kestra.plugin.core.http.Download", task_id=task_id)
        chunks.append(chunk)
    return b"".join(chunks)


def _file_name(url: str, disposition: str | None) -> str:
    """The stored file's name: the server's (Content-Disposition, path stripped) or the URL's last segment."""
    if disposition:
        name: str | None = None
        for part in disposition.split(";"):
            stripped = part.strip()
            if stripped.lower().startswith("filename*=") and "''" in stripped:
                name = unquote(stripped.split("''", 1)[1].strip('"'))
            elif stripped.lower().startswith("filename=") and name is None:
                name = stripped.split("=", 1)[1].strip().strip('"')
        if name:
            name = name.replace("\\", "/").rsplit("/", 1)[-1]
            if name not in ("", ".", ".."):
                return name
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return last if last not in ("", ".", "..") else "download"


class Download(_HttpTask):
    """Download a URL into internal storage; outputs ``uri``, ``code``, ``length`` and ``headers``."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.http.Download",
        short="http.Download",
        aliases=("io.kestra.plugin.fs.http.Download", "io.kestra.core.tasks.http.Download"),
        title="Download a URL into internal storage.",
        examples=("""\
id: download
namespace: company.team
tasks:
  - id: download
    type: io.kestra.plugin.core.http.Download
    uri: https://huggingface.co/datasets/kestra/datasets/raw/main/csv/orders.csv
""",),
    )

    fail_on_empty_response: bool = Field(default=True, description="Fail when the answer has no content.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        import aiohttp  # on first use: a flow without HTTP tasks does not pay for the client
        url = self._url(ctx)
        headers = self._headers(ctx)
        payload = await self._payload(ctx, headers)
        follow = self.options.follow_redirects if self.options else True
        target = ctx.working_directory() / f"download-{secrets.token_hex(8)}"
        try:
            async with self._session() as session, session.request(
                    self.method, url, headers=headers, data=payload, allow_redirects=follow,
                    proxy=self._proxy(ctx)) as response:
                code, reason, answer_headers = response.status, response.reason, _header_lists(response.headers)
                if code >= 400:
                    text = (await response.content.read(500)).decode(errors="replace")
                    if not self._allow_failed():
                        raise self._failed(self.method, url, code, reason, text)
                    return {"uri": None, "code": code, "length": 0, "headers": answer_headers}
                length = await _save(response, target)
                expected = response.content_length
        except TimeoutError as exc:
            raise self._timed_out(self.method, url) from exc
        except aiohttp.ClientError as exc:
            raise TaskFailure(f"HTTP {self.method} {url} failed: {type(exc).__name__}: {exc}",
                              task_id=self.id) from exc
        if expected is not None and expected != length:
            raise TaskFailure(f"download of {url} ended after {length} of {expected} bytes; retry the task",
                              task_id=self.id)
        if length == 0:
            if self.fail_on_empty_response:
                raise TaskFailure(f"{url} answered {code} with no content; set failOnEmptyResponse: false to "
                                  "accept an empty file", task_id=self.id)
            ctx.log(LogLevel.WARN, f"File '{url}' is empty")
        name = _file_name(url, response.headers.get("Content-Disposition"))
        uri = await ctx.storage.put(task_file_uri(ctx, name), target)
        ctx.log(LogLevel.DEBUG, f"File '{url}' downloaded to '{uri}'")
        return {"uri": uri, "code": code, "length": length, "headers": answer_headers}


async def _save(response: aiohttp.ClientResponse, target: Path) -> int:
    length = 0
    with target.open("wb") as out:
        async for chunk in response.content.iter_chunked(_CHUNK):
            out.write(chunk)
            length += len(chunk)
    return length


class _TriggerRendering:
    """A trigger's context seen as what building a request needs (texts rendered as Kestra prints values)."""

    def __init__(self, ctx: TriggerContext) -> None:
        self._ctx = ctx

    @property
    def storage(self) -> Storage:
        return self._ctx.storage

    def render(self, value: Any) -> Any:
        return self._ctx.render(value)

    def render_string(self, value: Any) -> str:
        return as_text(self._ctx.render(value))


class HttpTrigger(_HttpCall, PollingTrigger):
    """Every ``interval``, call ``uri``; when ``responseCondition`` holds for the answer, start an execution
    with the answer as ``trigger.*`` (``uri``, ``code``, ``headers``, ``body``).

    The condition sees ``response.statusCode``, ``response.body`` (text) and ``response.headers``; an
    error status does not stop the trigger, it is the condition's to judge (its default is any status
    below 400). A call that cannot be made (no answer, a timeout) is logged and tried again at the next
    interval. With ``encryptBody`` the condition still sees the body in clear, but the execution gets it
    only encrypted under the server's key (``trigger.encryptedBody``; ``trigger.body`` is null), as Kestra.
    Each answer that meets the condition starts one execution: use ``stopAfter`` to stop
    after the first that succeeds.
    """

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.http.Trigger",
        short="http.Trigger",
        aliases=("io.kestra.plugin.fs.http.Trigger",),
        title="Poll an HTTP endpoint and start an execution when its answer meets a condition.",
        examples=("""\
id: http_price_alert
namespace: company.team
tasks:
  - id: log_price
    type: io.kestra.plugin.core.log.Log
    message: "The price is now {{ json(trigger.body).price }}"
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: https://example.com/products/1
    responseCondition: "{{ json(response.body).price <= 110 }}"
    interval: PT30S
    stopAfter:
      - SUCCESS
""",),
    )

    response_condition: str = Field(
        default="{{ response.statusCode < 400 }}",
        description="Whether the answer starts an execution: an expression over response.statusCode, "
                    "response.body and response.headers (0, null, false and '' are false).")

    encrypt_body: bool = Field(
        default=False, description="Give the execution the body encrypted with the server's key, as "
                                   "trigger.encryptedBody (trigger.body is then null); the condition sees it in "
                                   "clear. Needs KESTRA_STREAM_ENCRYPTION_SECRET_KEY where the scheduler runs.")

    async def evaluate(self, ctx: TriggerContext) -> Mapping[str, Any] | None:
        if self.encrypt_body:
            ctx.encrypt("")  # no key: the poll fails, saying so, before the request is sent
        answer = await self._fetch(_TriggerRendering(ctx))
        ctx.log(LogLevel.DEBUG, f"{answer.url} responded with status code '{answer.code}'")
        response = {"statusCode": answer.code, "body": answer.body, "headers": answer.headers}
        if not is_truthy(ctx.render_with(self.response_condition, {"response": response})):
            return None
        variables: dict[str, Any] = {"uri": answer.url, "code": answer.code, "headers": answer.headers,
                                     "body": answer.body}
        if self.encrypt_body:
            encrypted = ctx.encrypt(answer.body) if answer.body is not None else None
            variables.update(body=None, encryptedBody=encrypted)
        return variables


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Request, Download, HttpTrigger)
