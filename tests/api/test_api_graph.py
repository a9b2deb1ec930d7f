"""The topology endpoints: of a YAML source being edited, and of a deployed flow and its revisions."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import ApiHarness

YAML = {"Content-Type": "application/x-yaml"}


def _source(namespace: str, *, with_if: bool = True) -> str:
    branch = ("  - id: check\n    type: io.kestra.plugin.core.flow.If\n    condition: \"{{ true }}\"\n"
              "    then:\n      - id: yes\n        type: io.kestra.plugin.core.log.Log\n        message: y\n"
              "    else:\n      - id: no\n        type: io.kestra.plugin.core.log.Log\n        message: n\n"
              if with_if else "")
    return (f"id: topo\nnamespace: {namespace}\ntasks:\n  - id: first\n    type: io.kestra.plugin.core.log.Log\n"
            f"    message: hi\n{branch}errors:\n  - id: alert\n    type: io.kestra.plugin.core.log.Log\n"
            "    message: failed\n")


def _relations(graph: dict[str, Any]) -> set[tuple[str, str, str | None, str | None]]:
    return {(e["source"], e["target"], e["relation"].get("relationType"), e["relation"].get("value"))
            for e in graph["edges"]}


async def test_the_graph_of_a_source_shows_choices_and_errors_without_saving_it(api: ApiHarness) -> None:
    namespace = f"api.graph.t{uuid.uuid4().hex[:8]}"
    answer = await api.client.post("/api/v1/flows/graph", data=_source(namespace), headers=YAML)
    assert answer.status == 200, await answer.text()
    graph = await answer.json()
    assert {("root.check", "root.check.yes", "CHOICE", "then"), ("root.check", "root.check.no", "CHOICE", "else"),
            ("root._start", "root.alert", "ERROR", None)} <= _relations(graph)
    [cluster] = graph["clusters"]
    assert cluster["cluster"]["uid"] == "cluster_root.check" and cluster["cluster"]["taskNode"]["uid"] == "root.check"
    assert next(n for n in graph["nodes"] if n["uid"] == "root.alert")["error"] is True
    assert (await api.client.get(f"/api/v1/flows/{namespace}/topo")).status == 404


async def test_the_graph_of_an_invalid_source_is_a_422_with_the_problems_validate_gives(api: ApiHarness) -> None:
    source = ("id: broken\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
              "    message: hi\n    colour: blue\n")
    answer = await api.client.post("/api/v1/flows/graph", data=source, headers=YAML)
    assert answer.status == 422
    problems = (await answer.json())["errors"]
    validated = await (await api.client.post("/api/v1/flows/validate", data=source, headers=YAML)).json()
    assert [(p["message"], p.get("line")) for p in problems] == [
        (v["message"], v.get("line")) for v in validated[0]["violations"]]
    assert problems[0]["line"] == 7
    not_yaml = await api.client.post("/api/v1/flows/graph", data="tasks: [", headers=YAML)
    assert not_yaml.status == 422


async def test_the_graph_of_a_deployed_flow_and_of_an_older_revision(api: ApiHarness) -> None:
    namespace = f"api.graph.t{uuid.uuid4().hex[:8]}"
    created = await api.client.post("/api/v1/flows", data=_source(namespace, with_if=False), headers=YAML)
    assert created.status == 200, await created.text()
    updated = await api.client.put(f"/api/v1/flows/{namespace}/topo", data=_source(namespace), headers=YAML)
    assert updated.status == 200
    latest = await (await api.client.get(f"/api/v1/flows/{namespace}/topo/graph")).json()
    assert "root.check" in {n["uid"] for n in latest["nodes"]}
    first = await api.client.get(f"/api/v1/main/flows/{namespace}/topo/graph", params={"revision": "1"})
    assert first.status == 200
    assert "root.check" not in {n["uid"] for n in (await first.json())["nodes"]}
    missing = await api.client.get(f"/api/v1/flows/{namespace}/nope/graph")
    assert missing.status == 404
    no_revision = await api.client.get(f"/api/v1/flows/{namespace}/topo/graph", params={"revision": "9"})
    assert no_revision.status == 404
