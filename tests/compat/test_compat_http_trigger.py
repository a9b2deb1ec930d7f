"""Kestra's http.Trigger as its TriggerTest runs it: the scheduler polls an endpoint and starts the flow with
the answer as ``trigger.*``.

``execute`` runs no scheduler, so a compat case cannot show it. Here a local aiohttp server answers,
the scheduler of each backend (the embedded engine's; on Kafka, a KafkaScheduler beside a stack on
topics of its own) polls it, and the flow's execution reads the answer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kestra_stream.backend import Backend
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import EmbeddedScheduler, KafkaScheduler
from kestra_stream.storage import Storage
from tests._waiting import until
from tests.e2e.conftest import E2E_ENVIRON, START_TIMEOUT, LoopThread, ThreadedBackend

NS = "compat.http"
SITE = "site"


@dataclass
class Stock:
    """The endpoint polled: it answers 404 until the item is in stock, then the item with its count."""

    count: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    async def item(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.headers.get("X-Shop", ""), await request.text()))
        if self.count == 0:
            return web.json_response({"error": "out of stock"}, status=404)
        return web.json_response({"item": "kettle", "count": self.count})


@pytest.fixture
def stock() -> Stock:
    return Stock()


@pytest.fixture
async def url(stock: Stock) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/items/kettle", stock.item)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/items/kettle"))
    finally:
        await server.close()


def _flow(url: str) -> str:
    # The old type name (io.kestra.plugin.fs.http.Trigger) as Kestra's http-listen test flow uses it; the
    # default condition (status below 400) skips the 404 answers.
    return f"""
id: restocked
namespace: {NS}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ json(trigger.body).item }}}} back in stock"
outputs:
  - id: count
    type: INT
    value: "{{{{ json(trigger.body).count }}}}"
  - id: code
    type: INT
    value: "{{{{ trigger.code }}}}"
  - id: uri
    type: STRING
    value: "{{{{ trigger.uri }}}}"
triggers:
  - id: http
    type: io.kestra.plugin.fs.http.Trigger
    uri: "{url}"
    method: POST
    contentType: application/json
    body: '{{"shop": "{{{{ flow.namespace }}}}"}}'
    headers:
      X-Shop: "{{{{ flow.id }}}}"
    interval: PT0.5S
    stopAfter: [SUCCESS]
"""


@dataclass
class Setup:
    backend: Backend
    scheduler: Callable[[], AbstractAsyncContextManager[Any]]
    # A scheduler of the worker group SITE, and None on the embedded engine, where no scheduler of the
    # engine leaves SITE's triggers out (its engine serves SITE: the unit tests show one that does not).
    site_scheduler: Callable[[], AbstractAsyncContextManager[Any]]
    storage: Storage


@pytest.fixture(scope="module")
def kafka_stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaStack,
                                                                                                  LoopThread,
                                                                                                  KafkaSettings]]:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap,
                             topic_prefix=f"compat-http-{uuid.uuid4().hex[:8]}.", partitions=2)
    stack = KafkaStack(settings, home=tmp_path_factory.mktemp("kafka-http"), environ=E2E_ENVIRON)
    loop = LoopThread("compat-http-stack")
    try:
        loop.run(stack.start(), START_TIMEOUT)
        yield stack, loop, settings
    finally:
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        delete_topics(settings)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    if request.param == "kafka":
        stack, loop, settings = request.getfixturevalue("kafka_stack")
        backend = ThreadedBackend(stack, loop)
        site = settings.model_copy(update={"worker_group_key": SITE})
        yield Setup(backend, lambda: KafkaScheduler(backend, stack.flows, settings, storage=stack.storage,
                                                     tick_seconds=0.2),
                    lambda: KafkaScheduler(backend, stack.flows, site, storage=stack.storage, tick_seconds=0.2),
                    stack.storage)
        return
    async with EmbeddedEngine(tmp_path / "home", worker_groups=(SITE,)) as engine:
        yield Setup(engine, lambda: EmbeddedScheduler(engine, tick_seconds=0.2),
                    lambda: EmbeddedScheduler(engine, tick_seconds=0.2), engine.storage)


async def test_the_polled_answer_starts_an_execution_that_reads_it_as_trigger_body(
        setup: Setup, url: str, stock: Stock) -> None:
    setup.backend.deploy(_flow(url))
    ended: list[Execution] = []

    def seen(state: ExecutionState) -> None:
        if state.finished and state.execution.flow_id == "restocked":
            ended.append(state.execution)

    setup.backend.subscribe(seen)
    async with setup.scheduler():
        await until(lambda: len(stock.requests) >= 2, "the scheduler polled the endpoint twice")
        assert ended == []  # a 404 answer does not meet the default condition
        stock.count = 3
        await until(lambda: bool(ended), "an execution started by the answer in stock")
        calls = len(stock.requests)
        await asyncio.sleep(1.5)  # three intervals: stopAfter SUCCESS disabled the trigger, so no more polls
        assert len(stock.requests) == calls

    [execution] = ended
    assert execution.state.current == StateType.SUCCESS
    assert execution.outputs == {"count": 3, "code": 200, "uri": url}
    assert execution.trigger is not None and execution.trigger["id"] == "http"
    assert json.loads(execution.trigger["variables"]["body"]) == {"item": "kettle", "count": 3}
    assert {(method, shop, json.loads(body)["shop"]) for method, shop, body in stock.requests} == {
        ("POST", "restocked", NS)}  # method, headers and body rendered as the flow says


SITE_FLOW = f"""
id: on_site
namespace: {NS}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ json(trigger.body).item }}}}"
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: "URL"
    method: POST
    interval: PT0.5S
    stopAfter: [SUCCESS]
    workerGroup:
      key: {SITE}
    logToFile: true
"""


async def test_a_trigger_of_a_worker_group_is_polled_by_that_group_and_its_log_file_is_on_the_execution(
        setup: Setup, url: str, stock: Stock, request: pytest.FixtureRequest) -> None:
    stock.count = 1
    setup.backend.deploy(SITE_FLOW.replace("URL", url))
    ended: list[Execution] = []
    setup.backend.subscribe(lambda state: ended.append(state.execution)
                            if state.finished and state.execution.flow_id == "on_site" else None)
    if request.node.callspec.params["setup"] == "kafka":
        async with setup.scheduler():  # a scheduler of no group: it leaves the trigger to SITE's
            await asyncio.sleep(1.5)
        assert stock.requests == []
    async with setup.site_scheduler():
        await until(lambda: bool(ended), "an execution started by the scheduler of the trigger's group")
    execution = ended[0]
    assert execution.state.current == StateType.SUCCESS and execution.trigger is not None
    lines = (await setup.storage.get(execution.trigger["logFile"])).decode().splitlines()
    assert lines[0].endswith(f"DEBUG {url} responded with status code '200'")
    assert lines[-1].endswith(f"started execution {execution.id}")
