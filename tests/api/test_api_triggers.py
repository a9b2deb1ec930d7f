"""Triggers through the API: listed with their state, disabled and enabled, unlocked, backfilled."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiHarness

REF = {"namespace": "api.tests", "flowId": "triggers_scheduled", "triggerId": "yearly"}


async def _flow_triggers(api: ApiHarness) -> dict[str, dict[str, Any]]:
    answer = await api.client.get("/api/v1/triggers/api.tests/triggers_scheduled")
    assert answer.status == 200
    body = await answer.json()
    return {item["abstractTrigger"]["id"]: item for item in body["results"]}


async def test_every_trigger_of_a_flow_is_listed_with_its_definition_and_state(api: ApiHarness) -> None:
    items = await _flow_triggers(api)
    assert set(items) == {"yearly", "hook"}
    assert items["yearly"]["abstractTrigger"]["cron"] == "0 0 1 1 *"
    assert items["yearly"]["triggerContext"]["flowId"] == "triggers_scheduled"
    found = await api.client.get("/api/v1/main/triggers/search", params={"namespace": "api", "q": "yearly"})
    body = await found.json()
    assert [r["abstractTrigger"]["id"] for r in body["results"]] == ["yearly"] and body["total"] == 1


async def test_a_trigger_is_disabled_then_enabled_again(api: ApiHarness) -> None:
    disabled = await api.client.put("/api/v1/triggers", json={**REF, "disabled": True})
    assert disabled.status == 200 and (await disabled.json())["disabled"] is True
    assert (await _flow_triggers(api))["yearly"]["triggerContext"]["disabled"] is True
    many = await api.client.post("/api/v1/triggers/set-disabled/by-triggers",
                                 json={"triggers": [REF], "disabled": False})
    assert await many.json() == {"count": 1}
    assert (await _flow_triggers(api))["yearly"]["triggerContext"]["disabled"] is False


async def test_a_backfill_is_started_paused_and_cancelled_and_a_second_one_conflicts(api: ApiHarness) -> None:
    started = await api.client.put("/api/v1/triggers", json={
        **REF, "backfill": {"start": "2020-01-01T00:00:00Z", "end": "2022-06-01T00:00:00Z"}})
    assert started.status == 200
    assert (await started.json())["backfill"]["currentDate"].startswith("2020-01-01")
    again = await api.client.put("/api/v1/triggers", json={**REF, "backfill": {"start": "2021-01-01T00:00:00Z"}})
    assert again.status == 409 and "already has a backfill" in (await again.json())["message"]
    paused = await api.client.put("/api/v1/triggers/backfill/pause", json=REF)
    assert (await paused.json())["backfill"]["paused"] is True
    deleted = await api.client.post("/api/v1/triggers/backfill/delete", json=REF)
    assert deleted.status == 200 and (await deleted.json()).get("backfill") is None
    none_left = await api.client.put("/api/v1/triggers/backfill/unpause", json=REF)
    assert none_left.status == 404


async def test_unknown_triggers_and_flows_are_404_and_a_trigger_without_state_cannot_be_unlocked(
        api: ApiHarness) -> None:
    unknown = await api.client.put("/api/v1/triggers", json={**REF, "triggerId": "nope", "disabled": True})
    assert unknown.status == 404 and "no trigger 'nope'" in (await unknown.json())["message"]
    no_flow = await api.client.get("/api/v1/triggers/api.tests/missing_flow")
    assert no_flow.status == 404
    unlock = await api.client.post("/api/v1/triggers/api.tests/triggers_scheduled/hook/unlock")
    assert unlock.status == 404
    empty = await api.client.put("/api/v1/triggers", json={**REF, "triggerId": "hook"})
    assert empty.status == 422


async def test_a_webhook_disabled_through_the_api_answers_404_until_enabled_again(api: ApiHarness) -> None:
    hook = {**REF, "triggerId": "hook"}
    url = "/api/v1/executions/webhook/api.tests/triggers_scheduled/triggers-api-key"
    assert (await api.client.put("/api/v1/triggers", json={**hook, "disabled": True})).status == 200
    assert (await api.client.post(url, json={})).status == 404
    assert (await api.client.put("/api/v1/triggers", json={**hook, "disabled": False})).status == 200
    assert (await api.client.post(url, json={})).status == 200
