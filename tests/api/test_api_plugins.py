"""The Plugins endpoints: every plugin type with its names, and the JSON schema of one."""

from __future__ import annotations

from tests.api.conftest import ApiHarness

LOG = "io.kestra.plugin.core.log.Log"


async def test_every_plugin_is_listed_with_its_names_kind_and_title(api: ApiHarness) -> None:
    answer = await api.client.get("/api/v1/plugins")
    plugins = await answer.json()
    assert answer.status == 200
    log = next(p for p in plugins if p["type"] == LOG)
    assert log["kind"] == "task" and "io.kestra.core.tasks.log.Log" in log["aliases"] and log["title"]
    assert log["shortName"]
    assert any(p["kind"] == "trigger" for p in plugins)
    triggers = await (await api.client.get("/api/v1/main/plugins", params={"kind": "trigger"})).json()
    assert triggers and {p["kind"] for p in triggers} == {"trigger"}
    assert (await api.client.get("/api/v1/plugins", params={"kind": "gadget"})).status == 400


async def test_the_schema_of_a_plugin_is_found_by_any_of_its_names(api: ApiHarness) -> None:
    answer = await api.client.get(f"/api/v1/plugins/{LOG}")
    body = await answer.json()
    assert answer.status == 200 and body["type"] == LOG and body["kind"] == "task"
    assert "message" in body["schema"]["properties"] and body["markdown"].startswith(f"# {LOG}")
    by_alias = await (await api.client.get("/api/v1/plugins/io.kestra.core.tasks.log.Log")).json()
    assert by_alias["type"] == LOG
    by_short = await (await api.client.get(f"/api/v1/plugins/{body['shortName']}")).json()
    assert by_short["schema"] == body["schema"]


async def test_an_unknown_plugin_is_a_404_proposing_close_names(api: ApiHarness) -> None:
    answer = await api.client.get("/api/v1/plugins/io.kestra.plugin.core.log.Logg")
    body = await answer.json()
    assert answer.status == 404 and "did you mean" in body["message"] and LOG in body["message"]
