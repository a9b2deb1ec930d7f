"""The template endpoints (Kestra's TemplateController paths), on both backends: templates kept in internal
storage, included by a flow's flow.Template task when it runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kestra_stream.templates import TemplateStore
from tests.api.conftest import ApiHarness


@pytest.fixture(scope="module", autouse=True)
def _templates_on() -> Iterator[None]:
    # For the module: the Kafka stack (one per module) builds its template injection when it starts.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KESTRA_STREAM_TEMPLATES_ENABLED", "true")
        yield


def _namespace() -> str:
    # Storage outlives a test on Kafka (one stack per module): templates never collide.
    return f"api.templates.t{uuid.uuid4().hex[:8]}"


def _template(namespace: str, message: str = "hello {{ parent.outputs.args.who }}") -> str:
    return f"""\
id: greetings
namespace: {namespace}
description: shared
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "{message}"
"""


async def _deployed_with_template(api: ApiHarness, flow_id: str, who: str, *, after: bool = False) -> str:
    """A new namespace holding the greetings template and flow ``flow_id`` including it; the namespace."""
    namespace = _namespace()
    saved = await api.client.post("/api/v1/templates", data=_template(namespace),
                                  headers={"Content-Type": "application/x-yaml"})
    assert saved.status == 200, await saved.text()
    tail = "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: after\n" if after else ""
    flow = f"""\
id: {flow_id}
namespace: {namespace}
tasks:
  - id: include
    type: io.kestra.plugin.core.flow.Template
    namespace: {namespace}
    templateId: greetings
    args:
      who: {who}
{tail}"""
    deployed = await api.client.post("/api/v1/flows", data=flow, headers={"Content-Type": "application/x-yaml"})
    assert deployed.status == 200, await deployed.text()
    return namespace


async def test_a_template_created_is_read_updated_searched_and_deleted(api: ApiHarness) -> None:
    namespace = _namespace()
    yaml = {"Content-Type": "application/x-yaml"}
    created = await api.client.post("/api/v1/templates", data=_template(namespace), headers=yaml)
    assert created.status == 200, await created.text()
    body = await created.json()
    assert (body["id"], body["namespace"], body["description"]) == ("greetings", namespace, "shared")
    assert body["tasks"][0]["type"] == "io.kestra.plugin.core.log.Log" and body["deleted"] is False

    again = await api.client.post("/api/v1/templates", data=_template(namespace), headers=yaml)
    assert again.status == 422 and "already exists" in (await again.json())["message"]
    read = await api.client.get(f"/api/v1/main/templates/{namespace}/greetings")
    assert read.status == 200 and (await read.json())["source"] == _template(namespace)
    stored = await TemplateStore(api.storage).get(namespace, "greetings")  # where executors read it
    assert stored is not None and stored.description == "shared"

    updated = await api.client.put(f"/api/v1/templates/{namespace}/greetings", data=_template(namespace, "changed"),
                                   headers=yaml)
    assert updated.status == 200 and (await updated.json())["tasks"][0]["message"] == "changed"
    renamed = await api.client.put(f"/api/v1/templates/{namespace}/greetings",
                                   data=_template(namespace).replace("id: greetings", "id: other"), headers=yaml)
    assert renamed.status == 422
    assert "Illegal template id update" in (await renamed.json())["errors"][0]["message"]

    found = await (await api.client.get("/api/v1/templates/search", params={"namespace": namespace})).json()
    assert found["total"] == 1 and found["results"][0]["id"] == "greetings"
    assert (await api.client.delete(f"/api/v1/templates/{namespace}/greetings")).status == 204
    assert (await api.client.get(f"/api/v1/templates/{namespace}/greetings")).status == 404
    assert (await api.client.delete(f"/api/v1/templates/{namespace}/greetings")).status == 404


async def test_an_invalid_template_is_refused_with_each_problem_at_its_line(api: ApiHarness) -> None:
    bad = f"id: bad\nnamespace: {_namespace()}\ntasks:\n  - id: x\n    type: io.kestra.plugin.core.log.Lg\n"
    answer = await api.client.post("/api/v1/templates", data=bad, headers={"Content-Type": "application/x-yaml"})
    assert answer.status == 422
    [problem] = (await answer.json())["errors"]
    assert problem["line"] == 5 and "io.kestra.plugin.core.log.Lg" in problem["message"]


async def test_a_flow_including_a_template_saved_through_the_api_runs_its_tasks(api: ApiHarness) -> None:
    namespace = await _deployed_with_template(api, "uses_template", "API", after=True)

    answer = await api.client.post(f"/api/v1/executions/{namespace}/uses_template", params={"wait": "true"})
    execution = await answer.json()
    assert execution["state"]["current"] == "SUCCESS", execution
    assert [tr["taskId"] for tr in execution["taskRunList"]] == ["include", "greet", "after"]
    assert execution["taskRunList"][0]["outputs"] == {"args": {"who": "API"}}


async def test_the_graphs_of_a_flow_and_of_its_execution_show_the_template_tasks(api: ApiHarness) -> None:
    namespace = await _deployed_with_template(api, "graphed", "graph")

    graph = await (await api.client.get(f"/api/v1/flows/{namespace}/graphed/graph")).json()
    assert "root.include.greet" in {node["uid"] for node in graph["nodes"]}
    execution = await (await api.client.post(f"/api/v1/executions/{namespace}/graphed",
                                             params={"wait": "true"})).json()
    ran = await (await api.client.get(f"/api/v1/executions/{execution['id']}/graph")).json()
    [greet] = [node for node in ran["nodes"] if node["uid"] == "root.include.greet"]
    assert greet["state"] == "SUCCESS"


async def test_while_templates_are_off_the_endpoints_say_how_to_turn_them_on(
        api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KESTRA_STREAM_TEMPLATES_ENABLED")
    answer = await api.client.get(f"/api/v1/templates/{_namespace()}/greetings")
    assert answer.status == 404
    assert "KESTRA_STREAM_TEMPLATES_ENABLED=true" in (await answer.json())["message"]
