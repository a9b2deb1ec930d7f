"""Searching, exporting and importing flows; searches read the index the indexer fills (eventually)."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

from aiohttp import FormData

from tests.api.conftest import ApiHarness

YAML = {"Content-Type": "application/x-yaml"}


def _ns() -> str:
    return f"api.search.t{uuid.uuid4().hex[:8]}"


def _flow(namespace: str, flow_id: str, message: str = "hi", labels: str = "") -> str:
    return (f"id: {flow_id}\nnamespace: {namespace}\n{labels}tasks:\n  - id: t\n"
            f"    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")


async def _deploy(api: ApiHarness, *sources: str) -> None:
    """Create or update each flow through the API."""
    for source in sources:
        answer = await api.client.post(f"/api/v1/flows/{source.split()[3]}", params={"delete": "false"},
                                       data=source, headers=YAML)
        assert answer.status == 200, await answer.text()


async def _search(api: ApiHarness, expected_total: int, *, revisions: dict[str, int] | None = None,
                  **params: str | list[str]) -> dict[str, Any]:
    """The search answer once it counts ``expected_total`` flows and the flows named in ``revisions``
    show those revisions (the indexer runs behind the writes: a flow's first revision counts before its
    update arrives)."""
    async def probe() -> dict[str, Any] | None:
        answer = await api.client.get("/api/v1/flows/search", params=[
            (k, v) for k, values in params.items() for v in (values if isinstance(values, list) else [values])])
        assert answer.status == 200, await answer.text()
        body: dict[str, Any] = await answer.json()
        shown = {f["id"]: f["revision"] for f in body["results"]}
        settled = all(shown.get(flow_id) == revision for flow_id, revision in (revisions or {}).items())
        return body if body["total"] == expected_total and settled else None

    return await api.eventually(probe)


async def test_search_pages_the_latest_revisions_of_a_namespace_and_its_children(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "b"), _flow(ns, "a"), _flow(f"{ns}.child", "c"), _flow(ns, "a", message="v2"))
    first = await _search(api, 3, revisions={"a": 2}, namespace=ns, size="2")
    assert [(f["namespace"], f["id"]) for f in first["results"]] == [(ns, "a"), (ns, "b")]
    assert first["results"][0]["revision"] == 2 and "source" not in first["results"][0]
    second = await _search(api, 3, namespace=ns, size="2", page="2")
    assert [f["id"] for f in second["results"]] == ["c"]


async def test_search_finds_words_of_the_source_and_sorts_and_filters_labels(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "x1", message="pelican", labels="labels:\n  team: birds\n"),
                  _flow(ns, "x2", message="pelican"), _flow(ns, "x3", message="walrus"))
    found = await _search(api, 2, namespace=ns, q="pelican")
    assert [f["id"] for f in found["results"]] == ["x1", "x2"]
    backwards = await _search(api, 3, namespace=ns, sort="id:desc")
    assert [f["id"] for f in backwards["results"]] == ["x3", "x2", "x1"]
    labelled = await _search(api, 1, namespace=ns, labels="team:birds")
    assert [f["id"] for f in labelled["results"]] == ["x1"]
    bad = await api.client.get("/api/v1/flows/search", params={"sort": "color:asc"})
    assert bad.status == 400
    too_deep = await api.client.get("/api/v1/flows/search", params={"page": "1000", "size": "1000"})
    assert too_deep.status == 400 and "narrow" in str(await too_deep.json())


async def test_a_deleted_flow_leaves_the_search(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "gone"), _flow(ns, "stays"))
    await _search(api, 2, namespace=ns)
    assert (await api.client.delete(f"/api/v1/flows/{ns}/gone")).status == 204
    after = await _search(api, 1, namespace=ns)
    assert [f["id"] for f in after["results"]] == ["stays"]
    await _deploy(api, _flow(ns, "gone"))
    again = await _search(api, 2, revisions={"gone": 3}, namespace=ns)
    assert [(f["id"], f["revision"]) for f in again["results"]] == [("gone", 3), ("stays", 1)]


def _zip_entries(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def test_export_by_query_zips_the_sources_of_the_matching_flows(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "e1"), _flow(ns, "e2"))
    await _search(api, 2, namespace=ns)
    answer = await api.client.get("/api/v1/flows/export/by-query", params={"namespace": ns})
    assert answer.status == 200 and "flows.zip" in answer.headers["Content-Disposition"]
    assert _zip_entries(await answer.read()) == {f"{ns}.e1.yml": _flow(ns, "e1"), f"{ns}.e2.yml": _flow(ns, "e2")}


async def test_export_by_ids_zips_those_flows_and_an_unknown_one_is_a_404(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "i1"), _flow(ns, "i2"))
    answer = await api.client.post("/api/v1/flows/export/by-ids", json=[{"namespace": ns, "id": "i2"}])
    assert answer.status == 200 and _zip_entries(await answer.read()) == {f"{ns}.i2.yml": _flow(ns, "i2")}
    unknown = await api.client.post("/api/v1/flows/export/by-ids", json=[{"namespace": ns, "id": "nope"}])
    assert unknown.status == 404 and f"{ns}.nope" in (await unknown.json())["message"]


def _upload(name: str, data: bytes) -> FormData:
    form = FormData()
    form.add_field("fileUpload", data, filename=name, content_type="application/octet-stream")
    return form


async def test_import_of_a_zip_creates_and_updates_flows_and_lists_the_entries_it_refused(api: ApiHarness) -> None:
    ns = _ns()
    await _deploy(api, _flow(ns, "existing"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("existing.yml", _flow(ns, "existing", message="updated"))
        archive.writestr("sub/new.yaml", _flow(ns, "new"))
        archive.writestr("broken.yml", "id: broken\nnamespace: x\n")
        archive.writestr("README.md", "not a flow")
    answer = await api.client.post("/api/v1/flows/import", data=_upload("flows.zip", buffer.getvalue()))
    assert answer.status == 200 and await answer.json() == ["broken.yml"]
    updated = await (await api.client.get(f"/api/v1/flows/{ns}/existing")).json()
    assert updated["revision"] == 2 and updated["tasks"][0]["message"] == "updated"
    assert (await api.client.get(f"/api/v1/flows/{ns}/new")).status == 200


async def test_import_of_a_yaml_file_answers_the_indexes_of_the_documents_it_refused(api: ApiHarness) -> None:
    ns = _ns()
    text = _flow(ns, "y1") + "---\nid: bad\n---\n" + _flow(ns, "y2")
    answer = await api.client.post("/api/v1/flows/import", data=_upload("flows.yaml", text.encode()))
    assert answer.status == 200 and await answer.json() == ["1"]
    listed = await (await api.client.get(f"/api/v1/flows/{ns}")).json()
    assert [f["id"] for f in listed] == ["y1", "y2"]


async def test_import_refuses_other_files_and_a_request_without_one(api: ApiHarness) -> None:
    other = await api.client.post("/api/v1/flows/import", data=_upload("flows.txt", b"x"))
    assert other.status == 400 and ".zip" in (await other.json())["message"]
    broken = await api.client.post("/api/v1/flows/import", data=_upload("flows.zip", b"not a zip"))
    assert broken.status == 400
    form = FormData()
    form.add_field("note", "no file here")
    missing = await api.client.post("/api/v1/flows/import", data=form)
    assert missing.status == 400 and "fileUpload" in (await missing.json())["message"]
