"""http.Trigger against a local aiohttp server started in the test: its condition over the answer, and
the embedded scheduler polling it into executions that read the answer as ``trigger.*``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kestra_stream_plugin_core import HttpTrigger

from kestra_stream import encryption
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import EmbeddedScheduler
from kestra_stream.triggers import BackendTriggerContext
from tests._waiting import until

NS = "http.trigger"


@dataclass
class Shop:
    """The endpoint polled: a price the test changes, and an answer status."""

    price: int = 150
    status: int = 200
    calls: list[str] = field(default_factory=list)

    async def product(self, request: web.Request) -> web.Response:
        self.calls.append(request.headers.get("X-Token", ""))
        return web.json_response({"price": self.price}, status=self.status)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
async def server(shop: Shop) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/product", shop.product)
    test_server = TestServer(app)
    await test_server.start_server()
    try:
        yield str(test_server.make_url("/product"))
    finally:
        await test_server.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as started:
        yield started


def _flow(flow_id: str, trigger: dict[str, object]) -> str:
    return json.dumps({
        "id": flow_id, "namespace": NS,
        "tasks": [{"id": "log", "type": "io.kestra.plugin.core.log.Log",
                   "message": "price {{ json(trigger.body).price }} ({{ trigger.code }})"}],
        "triggers": [{"id": "http", **trigger}]})


async def test_the_condition_judges_each_answer_and_an_error_status_does_not_fail_the_trigger(
        engine: EmbeddedEngine, server: str, shop: Shop) -> None:
    flow = engine.deploy(_flow("direct", {
        "type": "io.kestra.plugin.fs.http.Trigger", "uri": server, "headers": {"X-Token": "{{ flow.id }}"},
        "responseCondition": "{{ response.statusCode == 200 and json(response.body).price <= 100 }}"}))
    trigger = flow.triggers[0] if flow.triggers else None
    assert isinstance(trigger, HttpTrigger)
    ctx = BackendTriggerContext(engine, flow, trigger, engine.storage)
    assert await trigger.evaluate(ctx) is None  # 150: too dear
    shop.status = 503
    shop.price = 90
    assert await trigger.evaluate(ctx) is None  # the answer is an error: the condition says no, nothing raises
    shop.status = 200
    fired = await trigger.evaluate(ctx)
    assert fired is not None
    assert fired["uri"] == server and fired["code"] == 200 and json.loads(fired["body"]) == {"price": 90}
    assert fired["headers"]["Content-Type"] == ["application/json; charset=utf-8"]
    assert shop.calls == ["direct"] * 3  # headers are rendered


async def test_with_encrypt_body_the_condition_reads_the_body_in_clear_and_the_execution_gets_it_encrypted(
        engine: EmbeddedEngine, server: str, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    key_text = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv(encryption.KEY_VARIABLE, key_text)
    flow = engine.deploy(_flow("encrypted", {
        "type": "io.kestra.plugin.fs.http.Trigger", "uri": server, "encryptBody": True,
        "responseCondition": "{{ json(response.body).price == 150 }}"}))
    trigger = flow.triggers[0] if flow.triggers else None
    assert isinstance(trigger, HttpTrigger)
    fired = await trigger.evaluate(BackendTriggerContext(engine, flow, trigger, engine.storage))
    assert fired is not None and fired["body"] is None
    assert fired["encryptedBody"]["type"] == encryption.ENCRYPTED_TYPE
    key = encryption.key_from({encryption.KEY_VARIABLE: key_text})
    clear = encryption.decrypt(key, fired["encryptedBody"]["value"])
    assert json.loads(clear) == {"price": 150}


async def test_encrypt_body_without_a_key_fails_the_poll_before_calling_naming_the_setting(
        engine: EmbeddedEngine, server: str, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(encryption.KEY_VARIABLE, raising=False)
    flow = engine.deploy(_flow("no_key", {"type": "io.kestra.plugin.core.http.Trigger", "uri": server,
                                          "encryptBody": True}))
    trigger = flow.triggers[0] if flow.triggers else None
    assert isinstance(trigger, HttpTrigger)
    with pytest.raises(encryption.EncryptionError, match=encryption.KEY_VARIABLE):
        await trigger.evaluate(BackendTriggerContext(engine, flow, trigger, engine.storage))
    assert shop.calls == []


async def test_the_default_condition_fires_on_any_status_below_400(
        engine: EmbeddedEngine, server: str, shop: Shop) -> None:
    flow = engine.deploy(_flow("default", {"type": "io.kestra.plugin.core.http.Trigger", "uri": server}))
    trigger = flow.triggers[0] if flow.triggers else None
    assert isinstance(trigger, HttpTrigger)
    assert trigger.interval.total_seconds() == 60  # Kestra's default
    ctx = BackendTriggerContext(engine, flow, trigger, engine.storage)
    assert await trigger.evaluate(ctx) is not None
    shop.status = 404
    assert await trigger.evaluate(ctx) is None


async def test_the_scheduler_polls_the_endpoint_and_the_execution_reads_the_answer(
        engine: EmbeddedEngine, server: str, shop: Shop) -> None:
    engine.deploy(_flow("polled", {
        "type": "io.kestra.plugin.core.http.Trigger", "uri": server, "interval": "PT1S",
        "responseCondition": "{{ json(response.body).price <= 100 }}", "stopAfter": ["SUCCESS"]}))
    ended: list[Execution] = []

    def seen(state: ExecutionState) -> None:
        if state.finished and state.execution.flow_id == "polled":
            ended.append(state.execution)

    engine.subscribe(seen)
    async with EmbeddedScheduler(engine, tick_seconds=0.2):
        await until(lambda: len(shop.calls) >= 2, "the scheduler polled the endpoint twice")
        assert ended == []  # 150 does not meet the condition
        shop.price = 80
        await until(lambda: bool(ended), "an execution started by the answer at price 80")
    execution = ended[0]
    assert execution.state.current == StateType.SUCCESS
    assert execution.trigger is not None and execution.trigger["variables"]["code"] == 200
    logs = [entry.message for entry in engine.logs(execution.id)]
    assert "price 80 (200)" in logs


async def test_a_polling_trigger_of_a_worker_group_is_polled_only_by_a_scheduler_serving_that_group(
        tmp_path: Path, server: str, shop: Shop) -> None:
    flow = _flow("grouped", {"type": "io.kestra.plugin.core.http.Trigger", "uri": server, "interval": "PT1S",
                             "workerGroup": {"key": "remote"}})
    async with EmbeddedEngine(tmp_path / "central") as central:
        central.deploy(flow)
        async with EmbeddedScheduler(central, tick_seconds=0.05) as scheduler:
            for _ in range(5):
                await scheduler.tick()
        assert shop.calls == []
    started: list[Execution] = []
    async with EmbeddedEngine(tmp_path / "remote", worker_groups=("remote",)) as remote:
        remote.subscribe(lambda state: started.append(state.execution))
        remote.deploy(flow)
        async with EmbeddedScheduler(remote, tick_seconds=0.05):
            await until(lambda: bool(started), "an execution started by the remote group's scheduler")
    assert shop.calls and started[0].trigger is not None and started[0].trigger["variables"]["code"] == 200


async def test_with_log_to_file_the_execution_names_a_file_holding_the_poll_s_lines(
        engine: EmbeddedEngine, server: str, shop: Shop) -> None:
    engine.deploy(_flow("logged", {"type": "io.kestra.plugin.core.http.Trigger", "uri": server, "interval": "PT1S",
                                   "logToFile": True, "stopAfter": ["SUCCESS"]}))
    started: list[Execution] = []
    engine.subscribe(lambda state: started.append(state.execution))
    async with EmbeddedScheduler(engine, tick_seconds=0.05):
        await until(lambda: bool(started), "an execution started by the poll")
    execution = started[0]
    assert execution.trigger is not None
    uri = execution.trigger["logFile"]
    assert uri.startswith(f"kestra:///http/trigger/logged/executions/{execution.id}/trigger/http/")
    lines = (await engine.storage.get(uri)).decode().splitlines()
    assert lines[0].endswith(f"DEBUG {server} responded with status code '200'")
    assert lines[-1].endswith(f"INFO  trigger 'http' (io.kestra.plugin.core.http.Trigger) started execution "
                              f"{execution.id}")
