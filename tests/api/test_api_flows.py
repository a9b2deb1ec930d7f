"""The Flows endpoints that write and read one flow: create, get, update, delete, revisions, validate, bulk update.

On Kafka the stack lives for the whole module: each test works in a namespace of its own.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import ApiHarness

YAML = {"Content-Type": "application/x-yaml"}


def _ns() -> str:
    return f"api.flows.t{uuid.uuid4().hex[:8]}"


def _flow(namespace: str, flow_id: str = "f", message: str = "hi", extra: str = "") -> str:
    return (f"id: {flow_id}\nnamespace: {namespace}\n{extra}tasks:\n  - id: t\n"
            f"    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")


async def _create(api: ApiHarness, source: str) -> dict[str, Any]:
    answer = await api.client.post("/api/v1/flows", data=source, headers=YAML)
    body: dict[str, Any] = await answer.json()
    assert answer.status == 200, body
    return body


async def test_a_created_flow_is_answered_with_its_revision_and_source(api: ApiHarness) -> None:
    ns = _ns()
    source = "# kept verbatim\n" + _flow(ns, extra="labels:\n  team: data\n")
    body = await _create(api, source)
    assert (body["id"], body["namespace"], body["revision"], body["source"]) == ("f", ns, 1, source)
    assert body["labels"] == [{"key": "team", "value": "data"}]
    assert body["tasks"][0]["type"] == "io.kestra.plugin.core.log.Log" and body["tasks"][0]["message"] == "hi"
    assert body["disabled"] is False and body["deleted"] is False


async def test_get_answers_the_flow_and_its_source_only_when_asked(api: ApiHarness) -> None:
    plain = await api.client.get("/api/v1/flows/api.flows.fixture/flows_fixture")
    body = await plain.json()
    assert plain.status == 200 and body["revision"] == 1 and "source" not in body
    assert body["description"] == "Read by tests/api/test_api_flows.py"
    with_source = await (await api.client.get("/api/v1/main/flows/api.flows.fixture/flows_fixture",
                                              params={"source": "true"})).json()
    assert with_source["source"].startswith("# A flow the Flows endpoint tests read")


async def test_creating_a_flow_that_exists_is_refused_with_the_line_of_its_id(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns))
    again = await api.client.post("/api/v1/flows", data=_flow(ns, message="other"), headers=YAML)
    body = await again.json()
    assert again.status == 422 and "already exists" in body["message"] and "PUT" in body["message"]
    assert body["errors"] == [{"message": "Flow id already exists", "path": "id", "line": 1, "column": 5}]


async def test_an_invalid_flow_is_refused_with_every_problem_and_its_line(api: ApiHarness) -> None:
    source = ("id: bad\nnamespace: api.flows.bad\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Nope\n"
              "  - id: u\n    type: io.kestra.plugin.core.log.Log\n    message: x\n    unknownProperty: 1\n")
    answer = await api.client.post("/api/v1/flows", data=source, headers=YAML)
    body = await answer.json()
    assert answer.status == 422
    assert [e["line"] for e in body["errors"]] == [5, 9]
    assert "Nope" in body["errors"][0]["message"]
    broken = await api.client.post("/api/v1/flows", data="id: x\nnamespace: [unclosed\n", headers=YAML)
    problems = (await broken.json())["errors"]
    assert broken.status == 422 and "invalid YAML" in problems[0]["message"] and problems[0]["line"] is not None
    empty = await api.client.post("/api/v1/flows", data="", headers=YAML)
    assert empty.status == 422


async def test_update_makes_a_new_revision_and_older_ones_stay_readable(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns, message="one"))
    updated = await api.client.put(f"/api/v1/flows/{ns}/f", data=_flow(ns, message="two"), headers=YAML)
    body = await updated.json()
    assert updated.status == 200 and body["revision"] == 2 and body["tasks"][0]["message"] == "two"
    same = await (await api.client.put(f"/api/v1/flows/{ns}/f", data=_flow(ns, message="two"),
                                       headers=YAML)).json()
    assert same["revision"] == 2
    first = await (await api.client.get(f"/api/v1/flows/{ns}/f", params={"revision": "1", "source": "true"})).json()
    assert first["revision"] == 1 and first["source"] == _flow(ns, message="one")
    missing = await api.client.get(f"/api/v1/flows/{ns}/f", params={"revision": "7"})
    assert missing.status == 404 and "revision 7" in (await missing.json())["message"]


async def test_update_refuses_a_source_of_another_namespace_or_id_with_its_line(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns))
    moved = await api.client.put(f"/api/v1/flows/{ns}/f", data=_flow("api.flows.elsewhere"), headers=YAML)
    body = await moved.json()
    assert moved.status == 422 and body["errors"][0]["path"] == "namespace" and body["errors"][0]["line"] == 2
    assert "Illegal namespace update" in body["errors"][0]["message"]
    renamed = await api.client.put(f"/api/v1/flows/{ns}/f", data=_flow(ns, flow_id="g"), headers=YAML)
    assert renamed.status == 422 and "Illegal flow id update" in (await renamed.json())["errors"][0]["message"]
    unknown = await api.client.put(f"/api/v1/flows/{ns}/nothing", data=_flow(ns, flow_id="nothing"), headers=YAML)
    assert unknown.status == 404 and "POST" in (await unknown.json())["message"]


async def test_an_unknown_flow_is_a_404_naming_it(api: ApiHarness) -> None:
    answer = await api.client.get("/api/v1/flows/api.flows.none/ghost")
    assert answer.status == 404 and "api.flows.none.ghost" in (await answer.json())["message"]
    assert (await api.client.delete("/api/v1/flows/api.flows.none/ghost")).status == 404
    revisions = await api.client.get("/api/v1/flows/api.flows.none/ghost/revisions")
    assert revisions.status == 200 and await revisions.json() == []


async def test_a_deleted_flow_is_gone_but_its_revisions_stay_and_a_new_deploy_continues_them(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns, message="one"))
    deleted = await api.client.delete(f"/api/v1/flows/{ns}/f")
    assert deleted.status == 204
    assert (await api.client.get(f"/api/v1/flows/{ns}/f")).status == 404
    assert (await api.client.delete(f"/api/v1/flows/{ns}/f")).status == 404
    old = await api.client.get(f"/api/v1/flows/{ns}/f", params={"revision": "1"})
    assert old.status == 200
    shown = await (await api.client.get(f"/api/v1/flows/{ns}/f", params={"allowDeleted": "true"})).json()
    assert (shown["revision"], shown["deleted"]) == (2, True)
    revisions = await (await api.client.get(f"/api/v1/flows/{ns}/f/revisions")).json()
    assert [(r["revision"], r["deleted"]) for r in revisions] == [(1, False), (2, True)]
    assert revisions[0]["source"] == _flow(ns, message="one")
    again = await _create(api, _flow(ns, message="one"))
    assert again["revision"] == 3
    with_execution = await api.backend.create_execution(ns, "f")
    assert (await api.backend.wait(with_execution, 60)).flow_revision == 3


async def test_the_flows_of_a_namespace_are_listed_without_the_ones_below_it(api: ApiHarness) -> None:
    ns = _ns()
    for flow_id in ("b", "a"):
        await _create(api, _flow(ns, flow_id=flow_id))
    await _create(api, _flow(f"{ns}.child", flow_id="c"))
    await api.client.delete(f"/api/v1/flows/{ns}/b")
    listed = await (await api.client.get(f"/api/v1/flows/{ns}")).json()
    assert [f["id"] for f in listed] == ["a"] and "source" not in listed[0]


async def test_validate_answers_one_verdict_per_document_with_lines_in_the_whole_body(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns))
    body = (_flow(ns, extra="revision: 2\n") + "---\n"
            + "id: broken\nnamespace: api.flows.v\ntasks:\n  - id: t\n    type: io.kestra.core.tasks.log.Log\n"
            + "    message: x\n    level: LOUD\n"
            + "---\n" + _flow(ns, flow_id="old", extra="revision: 5\n"))
    answer = await api.client.post("/api/v1/flows/validate", data=body, headers=YAML)
    verdicts = await answer.json()
    assert answer.status == 200 and [v["index"] for v in verdicts] == [0, 1, 2]
    assert verdicts[0]["flow"] == "f" and verdicts[0]["outdated"] is False and "constraints" not in verdicts[0]
    broken = verdicts[1]
    assert broken["namespace"] == "api.flows.v" and "LOUD" in broken["constraints"]
    assert [v["line"] for v in broken["violations"]] == [15]  # line 7 of the second document, after 8 lines
    assert broken["deprecationPaths"] == ["tasks[0]"]
    assert broken["infos"] == ["io.kestra.core.tasks.log.Log is replaced by io.kestra.plugin.core.log.Log"]
    assert verdicts[2]["outdated"] is True
    nothing = await api.client.post("/api/v1/flows/validate", data="\n---\n", headers=YAML)
    assert nothing.status == 422


async def test_an_unparsable_expression_is_a_warning_and_the_flow_is_still_created(api: ApiHarness) -> None:
    # Kestra compiles expressions only when it renders them: the flow deploys and its run fails.
    ns = _ns()
    body = _flow(ns) + "---\n" + _flow(ns, flow_id="late", message="'{{ inputs.name'")
    verdicts = await (await api.client.post("/api/v1/flows/validate", data=body, headers=YAML)).json()
    assert verdicts[0]["warnings"] == []
    late = verdicts[1]
    assert "constraints" not in late and len(late["warnings"]) == 1
    assert late["warnings"][0].startswith("tasks[0].message: invalid expression '{{ inputs.name'")
    assert late["warnings"][0].endswith("(line 13)")  # line 6 of the second document, after 6 lines and ---
    created = await _create(api, _flow(ns, flow_id="late", message="'{{ inputs.name'"))
    assert created["revision"] == 1


async def test_bulk_update_creates_updates_and_deletes_the_namespace_flows_not_sent(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns, flow_id="kept", message="one"))
    await _create(api, _flow(ns, flow_id="dropped"))
    body = _flow(ns, flow_id="kept", message="two") + "---\n" + _flow(ns, flow_id="new")
    answer = await api.client.post(f"/api/v1/flows/{ns}", data=body, headers=YAML)
    changed = await answer.json()
    assert answer.status == 200
    assert [(f["id"], f["revision"], f["deleted"]) for f in changed] == [
        ("dropped", 2, True), ("kept", 2, False), ("new", 1, False)]
    listed = await (await api.client.get(f"/api/v1/flows/{ns}")).json()
    assert [f["id"] for f in listed] == ["kept", "new"]
    kept = await api.client.post(f"/api/v1/flows/{ns}", params={"delete": "false"},
                                 data=_flow(ns, flow_id="other"), headers=YAML)
    assert kept.status == 200
    listed = await (await api.client.get(f"/api/v1/flows/{ns}")).json()
    assert [f["id"] for f in listed] == ["kept", "new", "other"]


async def test_bulk_update_changes_nothing_when_a_flow_is_invalid_or_of_another_namespace(api: ApiHarness) -> None:
    ns = _ns()
    await _create(api, _flow(ns, flow_id="kept"))
    body = (_flow(ns, flow_id="a") + "---\n" + _flow("api.flows.elsewhere", flow_id="b") + "---\n"
            + _flow(ns, flow_id="c", message="[unclosed"))
    answer = await api.client.post(f"/api/v1/flows/{ns}", data=body, headers=YAML)
    problems = (await answer.json())["errors"]
    assert answer.status == 422
    assert [(p["message"].split(":")[0], p["line"]) for p in problems] == [("flow 1", 9), ("flow 2", 20)]
    duplicate = await api.client.post(f"/api/v1/flows/{ns}", data=_flow(ns) + "---\n" + _flow(ns), headers=YAML)
    assert duplicate.status == 422 and "Duplicate flow id 'f'" in (await duplicate.json())["errors"][0]["message"]
    listed = await (await api.client.get(f"/api/v1/flows/{ns}")).json()
    assert [f["id"] for f in listed] == ["kept"]
