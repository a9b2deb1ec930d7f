"""The webhook trigger on both backends: body, headers and parameters as trigger variables, keys,
conditions, wait and returnOutputs, and no authentication needed."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from kestra_stream.api import ApiSettings, create_app
from kestra_stream.api._webhooks import multi_map, parse_body
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.models.state import StateType
from kestra_stream.search import SqliteRepository
from tests.api.conftest import ApiHarness, build_services, deploy_api_flows
from tests.api.test_api_executions import WAIT

HOOK = "/api/v1/executions/webhook/api.webhooks"


async def test_post_json_body_headers_and_parameters_become_trigger_variables(api: ApiHarness) -> None:
    answer = await api.client.post(f"{HOOK}/exec_webhook/s3cret-hook", params=[("a", "1"), ("a", "2")],
                                   json={"hello": "world"}, headers={"X-Custom": "yes"})
    assert answer.status == 200, await answer.text()
    execution = await answer.json()
    assert execution["flowId"] == "exec_webhook"
    trigger = execution["trigger"]
    assert trigger["id"] == "hook" and trigger["type"] == "io.kestra.plugin.core.trigger.Webhook"
    variables = trigger["variables"]
    assert variables["body"] == {"hello": "world"}
    assert variables["parameters"] == {"a": ["1", "2"]}
    assert variables["headers"]["X-Custom"] == ["yes"]
    ended = await api.backend.wait(execution["id"], WAIT)
    assert ended.state.current == StateType.SUCCESS
    assert any("'hello': 'world'" in line.message or '"hello"' in line.message
               for line in api.backend.logs(execution["id"]))


async def test_get_and_put_reach_the_webhook_and_a_text_body_stays_text(api: ApiHarness) -> None:
    got = await api.client.get(f"{HOOK}/exec_webhook/s3cret-hook")
    assert got.status == 200 and (await got.json())["trigger"]["variables"]["body"] is None
    put = await api.client.put(f"{HOOK}/exec_webhook/s3cret-hook", data="plain words",
                               headers={"Content-Type": "text/plain"})
    assert put.status == 200
    execution = await put.json()
    assert execution["trigger"]["variables"]["body"] == "plain words"
    await api.backend.wait(execution["id"], WAIT)


async def test_a_wrong_key_a_disabled_trigger_or_an_unknown_flow_is_404(api: ApiHarness) -> None:
    for path in ("exec_webhook/wrong-key", "exec_webhook/disabled-hook", "no_such_flow/s3cret-hook"):
        answer = await api.client.post(f"{HOOK}/{path}", json={})
        assert answer.status == 404, path
        message = (await answer.json())["message"]
        assert "no enabled webhook" in message and "wrong-key" not in message


async def test_conditions_that_reject_the_call_answer_204_and_start_nothing(api: ApiHarness) -> None:
    answer = await api.client.post(f"{HOOK}/exec_webhook/s3cret-hook", params={"skip": "1"}, json={})
    assert answer.status == 204


async def test_wait_with_return_outputs_answers_the_flow_outputs(api: ApiHarness) -> None:
    answer = await api.client.post(f"{HOOK}/exec_webhook_wait/outputs-hook", json={"who": "Ada"})
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {"greeting": "Hello Ada"}


async def test_wait_without_return_outputs_answers_the_ended_execution(api: ApiHarness) -> None:
    answer = await api.client.get(f"{HOOK}/exec_webhook_wait/execution-hook", params={"who": "Bob"})
    assert answer.status == 200
    execution: dict[str, Any] = await answer.json()
    assert execution["state"]["current"] == "SUCCESS" and execution["outputs"] == {"greeting": "Hello Bob"}
    assert execution["inputs"] == {"who": "Bob"}


async def test_webhooks_need_no_credentials_when_authentication_is_on(tmp_path: Path) -> None:
    settings = ApiSettings.model_validate({"basic_auth": {"admin": "pw"}})
    async with EmbeddedEngine(tmp_path / "home") as engine:
        deploy_api_flows(engine.flows)
        services = build_services(engine, engine.flows, SqliteRepository(":memory:"), engine.storage, "embedded",
                                  settings)
        async with TestClient(TestServer(create_app(services))) as client:
            assert (await client.post(f"{HOOK}/exec_webhook/s3cret-hook", json={})).status == 200
            assert (await client.post("/api/v1/executions/api.executions/exec_inputs")).status == 401
            auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
            assert (await client.post("/api/v1/executions/api.executions/exec_inputs", headers=auth)).status == 200


def test_body_parsing_and_multi_maps_follow_kestra() -> None:
    assert parse_body(b"", None) is None
    assert parse_body(b'{"a": 1}', None) == {"a": 1}
    assert parse_body(b"[1, 2]", None) == [1, 2]
    assert parse_body(b"42", None) == "42"  # a JSON scalar stays the text it was sent as
    assert parse_body(b"not json", None) == "not json"
    assert parse_body("été".encode("latin-1"), "latin-1") == "été"
    assert multi_map({"k": "v"}) == {"k": ["v"]}
