"""The namespace lists and the latest execution of each flow, as the UI's flow list reads them."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import ApiHarness

YAML = {"Content-Type": "application/x-yaml"}


def _ns() -> str:
    return f"api.lists.t{uuid.uuid4().hex[:8]}"


def _flow(namespace: str, flow_id: str, *, disabled: bool = False) -> str:
    return (f"id: {flow_id}\nnamespace: {namespace}\n{'disabled: true' + chr(10) if disabled else ''}tasks:\n"
            "  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")


async def _deploy(api: ApiHarness, *sources: str) -> None:
    for source in sources:
        answer = await api.client.post("/api/v1/flows", data=source, headers=YAML)
        assert answer.status == 200, await answer.text()


async def _run(api: ApiHarness, namespace: str, flow_id: str) -> dict[str, Any]:
    answer = await api.client.post(f"/api/v1/executions/{namespace}/{flow_id}", params={"wait": "true"})
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


async def test_distinct_namespaces_lists_each_namespace_of_a_flow_once_and_filters_by_text(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "a"), _flow(ns, "b"), _flow(f"{ns}.child", "c"), _flow(f"{ns}.gone", "d"))
    assert (await api.client.delete(f"/api/v1/flows/{ns}.gone/d")).status == 204

    async def probe() -> list[str] | None:
        answer = await api.client.get("/api/v1/flows/distinct-namespaces", params={"q": ns})
        assert answer.status == 200, await answer.text()
        found: list[str] = await answer.json()
        return found if found == [ns, f"{ns}.child"] else None

    await api.eventually(probe)
    everything = await (await api.client.get("/api/v1/main/flows/distinct-namespaces")).json()
    assert {ns, f"{ns}.child"} <= set(everything) and f"{ns}.gone" not in everything
    assert everything == sorted(everything)


async def test_a_namespace_path_is_still_a_namespace_next_to_distinct_namespaces(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "a"))
    listed = await (await api.client.get(f"/api/v1/flows/{ns}")).json()
    assert [f["id"] for f in listed] == ["a"]


async def test_executions_namespaces_lists_the_namespaces_of_flows_that_can_run(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "runs"), _flow(f"{ns}.off", "off", disabled=True))
    answer = await api.client.get("/api/v1/executions/namespaces")
    assert answer.status == 200
    found = await answer.json()
    assert ns in found and f"{ns}.off" not in found and found == sorted(found)


async def test_latest_execution_of_each_flow_by_namespace_and_by_flows_named(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "a"), _flow(ns, "b"), _flow(f"{ns}.child", "c"), _flow(ns, "never"))
    await _run(api, ns, "a")
    latest_a = await _run(api, ns, "a")
    latest_b = await _run(api, ns, "b")
    latest_c = await _run(api, f"{ns}.child", "c")
    wanted = [(ns, "a", latest_a["id"]), (ns, "b", latest_b["id"]), (f"{ns}.child", "c", latest_c["id"])]

    async def by_namespace() -> list[dict[str, Any]] | None:
        answer = await api.client.get("/api/v1/stats/executions/latest/group-by-flow", params={"namespace": ns})
        assert answer.status == 200, await answer.text()
        found: list[dict[str, Any]] = await answer.json()
        # The search may hold an ended execution's earlier snapshot for a moment: wait for its end too.
        return found if [(e["namespace"], e["flowId"], e["id"], e["state"]["current"]) for e in found] == [
            (*w, "SUCCESS") for w in wanted] else None

    await api.eventually(by_namespace)
    named = await api.client.post("/api/v1/stats/executions/latest/group-by-flow",
                                  json={"flows": [{"namespace": ns, "id": "b"}, {"namespace": ns, "id": "never"}]})
    assert named.status == 200
    assert [e["id"] for e in await named.json()] == [latest_b["id"]]
    everything = await api.client.post("/api/v1/stats/executions/latest/group-by-flow", json={})
    ids = {e["id"] for e in await everything.json()}
    assert {latest_a["id"], latest_b["id"], latest_c["id"]} <= ids
