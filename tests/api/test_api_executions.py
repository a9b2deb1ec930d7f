"""Executions endpoints on both backends: create, get, search, commands, labels, delete, follow."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from kestra_stream.models.state import StateType
from tests.api.conftest import ApiHarness

NS = "api.executions"
BASE = "/api/v1/executions"
WAIT = 60.0


def labels_of(execution: dict[str, Any]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in execution["labels"]}


async def create(api: ApiHarness, flow_id: str, *, wait: bool = False, json_inputs: Any = None,
                 params: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    query = [*(params or []), *([("wait", "true")] if wait else [])]
    answer = await api.client.post(f"{BASE}/{NS}/{flow_id}", params=query, json=json_inputs)
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


async def state_of(api: ApiHarness, execution_id: str, wanted: StateType) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await api.client.get(f"{BASE}/{execution_id}")
        body: dict[str, Any] = await answer.json()
        return body if answer.status == 200 and body["state"]["current"] == wanted.value else None

    return await api.eventually(probe, within=WAIT)


async def read_events(response: aiohttp.ClientResponse) -> list[tuple[str, dict[str, Any]]]:
    """Every server-sent event until the server ends the stream: (id, data)."""
    events: list[tuple[str, dict[str, Any]]] = []
    event_id, data = "", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and data:
            events.append((event_id, json.loads(data)))
            event_id, data = "", ""
    return events


async def test_create_with_json_inputs_and_labels_waits_for_the_end_and_answers_outputs(api: ApiHarness) -> None:
    execution = await create(api, "exec_inputs", wait=True, json_inputs={"name": "Ada", "count": 3},
                             params=[("labels", "env:test"), ("labels", "tier:gold")])
    assert execution["state"]["current"] == "SUCCESS"
    assert execution["outputs"]["greeting"] == "Hello Ada"
    assert execution["inputs"]["count"] == 3
    assert labels_of(execution) == {"team": "api", "env": "test", "tier": "gold",
                                    "system.correlationId": execution["id"]}


async def test_create_without_wait_answers_the_new_execution_at_once(api: ApiHarness) -> None:
    execution = await create(api, "exec_inputs")
    assert execution["namespace"] == NS and execution["flowId"] == "exec_inputs"
    assert execution["state"]["current"] in {s.value for s in StateType}
    ended = await api.backend.wait(execution["id"], WAIT)
    assert ended.state.current == StateType.SUCCESS


async def test_multipart_inputs_are_text_and_an_uploaded_file_lands_in_storage(api: ApiHarness) -> None:
    form = aiohttp.FormData()
    form.add_field("name", "Grace")
    form.add_field("count", "7")
    form.add_field("files", b"file content\n", filename="doc", content_type="text/plain")
    answer = await api.client.post(f"{BASE}/{NS}/exec_inputs", params={"wait": "true"}, data=form)
    assert answer.status == 200, await answer.text()
    execution = await answer.json()
    assert execution["outputs"]["greeting"] == "Hello Grace"
    assert execution["inputs"]["count"] == 7
    uri = execution["inputs"]["doc"]
    assert uri.startswith("kestra:///") and execution["id"] in uri
    assert await api.storage.get(uri) == b"file content\n"


async def test_a_part_named_after_the_file_input_is_an_upload_too(api: ApiHarness) -> None:
    form = aiohttp.FormData()
    form.add_field("doc", b"abc", filename="report.txt", content_type="text/plain")
    answer = await api.client.post(f"{BASE}/{NS}/exec_inputs", params={"wait": "true"}, data=form)
    execution = await answer.json()
    assert answer.status == 200 and execution["inputs"]["doc"].endswith("/report.txt")
    assert await api.storage.get(execution["inputs"]["doc"]) == b"abc"


async def test_invalid_inputs_answer_422_naming_the_input_and_create_nothing(api: ApiHarness) -> None:
    answer = await api.client.post(f"{BASE}/{NS}/exec_inputs", json={"count": "many"})
    assert answer.status == 422
    assert "count" in (await answer.json())["message"]


async def test_a_blocking_flow_check_answers_422_with_its_message_and_creates_nothing(api: ApiHarness) -> None:
    refused = await api.client.post(f"{BASE}/{NS}/exec_checked", json={"amount": -3})
    assert refused.status == 422
    assert (await refused.json())["message"] == "the amount must be positive"
    accepted = await create(api, "exec_checked", wait=True, json_inputs={"amount": 3})
    assert accepted["state"]["current"] == "SUCCESS"


async def test_a_local_file_uri_given_as_text_is_refused(api: ApiHarness) -> None:
    answer = await api.client.post(f"{BASE}/{NS}/exec_inputs", json={"doc": "file:///etc/passwd"})
    assert answer.status == 422
    assert "doc" in (await answer.json())["message"]


async def test_create_errors_unknown_flow_404_bad_label_400_system_label_422(api: ApiHarness) -> None:
    assert (await api.client.post(f"{BASE}/{NS}/nope")).status == 404
    bad = await api.client.post(f"{BASE}/{NS}/exec_inputs", params={"labels": "no-colon"})
    assert bad.status == 400 and "key:value" in (await bad.json())["message"]
    system = await api.client.post(f"{BASE}/{NS}/exec_inputs", params={"labels": "system.readOnly:true"})
    assert system.status == 422
    assert (await api.client.post(f"{BASE}/{NS}/exec_inputs", params={"revision": "99"})).status == 404


async def test_get_answers_the_execution_and_404_for_an_unknown_id(api: ApiHarness) -> None:
    created = await create(api, "exec_inputs", wait=True)
    answer = await api.client.get(f"{BASE}/{created['id']}")
    assert answer.status == 200 and (await answer.json())["id"] == created["id"]
    assert (await api.client.get("/api/v1/main/executions/" + created["id"])).status == 200
    missing = await api.client.get(f"{BASE}/doesNotExist000000000")
    assert missing.status == 404 and "does not exist" in (await missing.json())["message"]


async def test_search_filters_by_flow_state_and_labels(api: ApiHarness) -> None:
    ok = await create(api, "exec_inputs", wait=True, params=[("labels", "search:yes")])
    failed = await create(api, "exec_fail", wait=True)
    assert failed["state"]["current"] == "FAILED"

    async def found(params: list[tuple[str, str]], wanted: str) -> dict[str, Any] | None:
        answer = await api.client.get(f"{BASE}/search", params=params)
        assert answer.status == 200, await answer.text()
        page: dict[str, Any] = await answer.json()
        return page if wanted in [e["id"] for e in page["results"]] else None

    by_label = await api.eventually(lambda: found([("labels", "search:yes"), ("namespace", NS)], ok["id"]))
    assert all(labels_of(e).get("search") == "yes" for e in by_label["results"])
    by_state = await api.eventually(lambda: found([("flowId", "exec_fail"), ("state", "FAILED"),
                                                   ("state", "KILLED")], failed["id"]))
    assert {e["flowId"] for e in by_state["results"]} == {"exec_fail"} and by_state["total"] >= 1
    sorted_page = await api.client.get(f"{BASE}/search", params={"sort": "id:asc", "size": "5"})
    ids = [e["id"] for e in (await sorted_page.json())["results"]]
    assert ids == sorted(ids)
    assert (await api.client.get(f"{BASE}/search", params={"sort": "colour:asc"})).status == 400
    assert (await api.client.get(f"{BASE}/search", params={"state": "ASLEEP"})).status == 400
    recent = await api.eventually(lambda: found([("timeRange", "PT1H"), ("flowId", "exec_fail")], failed["id"]))
    assert recent["total"] >= 1
    future = await api.client.get(f"{BASE}/search", params={"startDate": "2999-01-01T00:00:00Z"})
    assert (await future.json())["total"] == 0
    both = await api.client.get(f"{BASE}/search", params={"timeRange": "PT1H", "startDate": "2024-01-01T00:00:00Z"})
    assert both.status == 400


async def test_one_flows_executions_exclude_a_child_namespaces_flow_of_the_same_id(api: ApiHarness) -> None:
    parent = f"api.byflow.t{uuid.uuid4().hex[:8]}"
    ids: dict[str, str] = {}
    for namespace in (parent, f"{parent}.child"):
        api.flows.deploy(f"id: same\nnamespace: {namespace}\ntasks:\n  - id: t\n"
                         "    type: io.kestra.plugin.core.log.Log\n    message: hi\n")

        async def deployed(namespace: str = namespace) -> bool | None:
            return (await api.client.get(f"/api/v1/flows/{namespace}/same")).status == 200 or None

        await api.eventually(deployed, within=WAIT)
        answer = await api.client.post(f"{BASE}/{namespace}/same", params={"wait": "true"})
        assert answer.status == 200, await answer.text()
        ids[namespace] = (await answer.json())["id"]

    def listed(namespace: str) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        async def ended() -> dict[str, Any] | None:
            # The index follows the executions: a page is read once it shows that namespace's run ended.
            answer = await api.client.get("/api/v1/main/executions", params={"namespace": namespace, "flowId": "same"})
            assert answer.status == 200, await answer.text()
            page: dict[str, Any] = await answer.json()
            done = any(e["id"] == ids[namespace] and e["state"]["current"] == "SUCCESS" for e in page["results"])
            return page if done else None
        return ended

    await api.eventually(listed(f"{parent}.child"), within=WAIT)  # the child's run is indexed too
    page = await api.eventually(listed(parent), within=WAIT)
    assert [(e["id"], e["namespace"], e["state"]["current"]) for e in page["results"]] == [
        (ids[parent], parent, "SUCCESS")]
    missing = await api.client.get(BASE, params={"namespace": parent})
    assert missing.status == 400 and "flowId" in await missing.text()


async def test_kill_a_running_execution_then_killing_again_is_a_conflict(api: ApiHarness) -> None:
    created = await create(api, "exec_sleep")
    await state_of(api, created["id"], StateType.RUNNING)
    killed = await api.client.delete(f"{BASE}/{created['id']}/kill")
    assert killed.status == 202
    assert (await api.backend.wait(created["id"], WAIT)).state.current == StateType.KILLED
    again = await api.client.delete(f"{BASE}/{created['id']}/kill")
    assert again.status == 409
    assert (await api.client.delete(f"{BASE}/doesNotExist000000000/kill")).status == 404


async def test_pause_a_running_execution_and_a_second_pause_is_a_conflict(api: ApiHarness) -> None:
    created = await create(api, "exec_sleep")
    await state_of(api, created["id"], StateType.RUNNING)
    assert (await api.client.post(f"{BASE}/{created['id']}/pause")).status == 200
    await state_of(api, created["id"], StateType.PAUSED)
    assert (await api.client.post(f"{BASE}/{created['id']}/pause")).status == 409
    assert (await api.client.delete(f"{BASE}/{created['id']}/kill")).status == 202
    await api.backend.wait(created["id"], WAIT)


async def test_resume_takes_the_pause_tasks_inputs_validated(api: ApiHarness) -> None:
    created = await create(api, "exec_pause")
    await state_of(api, created["id"], StateType.PAUSED)
    invalid = await api.client.post(f"{BASE}/{created['id']}/resume", json={"approved": "perhaps"})
    assert invalid.status == 422 and "approved" in (await invalid.json())["message"]
    form = aiohttp.FormData()
    form.add_field("approved", "true")
    assert (await api.client.post(f"{BASE}/{created['id']}/resume", data=form)).status == 200
    ended = await api.backend.wait(created["id"], WAIT)
    assert ended.outputs == {"decision": "approved=true"}
    again = await api.client.post(f"{BASE}/{created['id']}/resume")
    assert again.status == 409 and "PAUSED" in (await again.json())["message"]


async def test_restart_a_failed_execution_and_refuse_a_successful_one(api: ApiHarness) -> None:
    failed = await create(api, "exec_fail", wait=True)
    restarted = await api.client.post(f"{BASE}/{failed['id']}/restart")
    assert restarted.status == 200 and (await restarted.json())["id"] == failed["id"]
    await state_of(api, failed["id"], StateType.FAILED)
    ok = await create(api, "exec_inputs", wait=True)
    refused = await api.client.post(f"{BASE}/{ok['id']}/restart")
    assert refused.status == 409 and "FAILED" in (await refused.json())["message"]


async def test_replay_from_a_task_run_creates_a_new_execution(api: ApiHarness) -> None:
    source = await create(api, "exec_inputs", wait=True, json_inputs={"name": "Replay"})
    second = next(tr for tr in source["taskRunList"] if tr["taskId"] == "debug")
    answer = await api.client.post(f"{BASE}/{source['id']}/replay", params={"taskRunId": second["id"]})
    assert answer.status == 200, await answer.text()
    replay = await answer.json()
    assert replay["id"] != source["id"] and replay["originalId"] == source["id"]
    ended = await api.backend.wait(replay["id"], WAIT)
    assert ended.state.current == StateType.SUCCESS and ended.outputs == {"greeting": "Hello Replay", "doc": ""}
    unknown = await api.client.post(f"{BASE}/{source['id']}/replay", params={"taskRunId": "nope"})
    assert unknown.status == 409


async def test_set_labels_merges_them_on_an_ended_execution_only(api: ApiHarness) -> None:
    ended = await create(api, "exec_inputs", wait=True, params=[("labels", "keep:me"), ("labels", "env:old")])
    answer = await api.client.post(f"{BASE}/{ended['id']}/labels",
                                   json=[{"key": "env", "value": "new"}, {"key": "added", "value": "1"}])
    assert answer.status == 200, await answer.text()
    assert labels_of(await answer.json()) == {"team": "api", "keep": "me", "env": "new", "added": "1",
                                              "system.correlationId": ended["id"]}

    async def relabelled() -> dict[str, str] | None:
        state = api.backend.state(ended["id"])
        return state.execution.labels if state is not None and "added" in state.execution.labels else None

    assert (await api.eventually(relabelled))["env"] == "new"
    system = await api.client.post(f"{BASE}/{ended['id']}/labels", json=[{"key": "system.x", "value": "1"}])
    assert system.status == 422
    running = await create(api, "exec_sleep")
    await state_of(api, running["id"], StateType.RUNNING)
    refused = await api.client.post(f"{BASE}/{running['id']}/labels", json=[{"key": "a", "value": "b"}])
    assert refused.status == 409
    await api.client.delete(f"{BASE}/{running['id']}/kill")
    await api.backend.wait(running["id"], WAIT)


async def test_delete_forgets_an_ended_execution_and_refuses_a_running_one(api: ApiHarness) -> None:
    form = aiohttp.FormData()
    form.add_field("files", b"to be deleted", filename="doc", content_type="text/plain")
    ended = await (await api.client.post(f"{BASE}/{NS}/exec_inputs", params={"wait": "true"}, data=form)).json()
    running = await create(api, "exec_sleep")
    await state_of(api, running["id"], StateType.RUNNING)
    refused = await api.client.delete(f"{BASE}/{running['id']}")
    assert refused.status == 409 and "kill" in (await refused.json())["message"]
    assert (await api.client.delete(f"{BASE}/{ended['id']}")).status == 204
    assert api.backend.state(ended["id"]) is None
    assert api.backend.logs(ended["id"]) == []
    assert not await api.storage.exists(ended["inputs"]["doc"])
    assert (await api.client.get(f"{BASE}/{ended['id']}")).status == 404
    listed = await api.client.get(f"{BASE}/search", params={"namespace": NS, "flowId": "exec_inputs"})
    assert ended["id"] not in [e["id"] for e in (await listed.json())["results"]]
    assert (await api.client.delete(f"{BASE}/doesNotExist000000000")).status == 404
    await api.client.delete(f"{BASE}/{running['id']}/kill")
    await api.backend.wait(running["id"], WAIT)


async def test_follow_streams_each_change_until_the_end(api: ApiHarness) -> None:
    created = await create(api, "exec_pause")
    async with api.client.get(f"{BASE}/{created['id']}/follow") as stream:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        reader = asyncio.create_task(read_events(stream))
        await state_of(api, created["id"], StateType.PAUSED)
        assert (await api.client.post(f"{BASE}/{created['id']}/resume", json={"approved": True})).status == 200
        events = await asyncio.wait_for(reader, WAIT)
    assert events[-1][0] == "end" and events[-1][1]["state"]["current"] == "SUCCESS"
    assert all(event_id == "progress" for event_id, _ in events[:-1])
    seen = {data["state"]["current"] for _, data in events}
    assert {"PAUSED", "SUCCESS"} <= seen


async def test_follow_of_an_ended_execution_sends_only_the_end(api: ApiHarness) -> None:
    ended = await create(api, "exec_inputs", wait=True)
    async with api.client.get(f"{BASE}/{ended['id']}/follow") as stream:
        events = await asyncio.wait_for(read_events(stream), WAIT)
    assert [(e, d["id"]) for e, d in events] == [("end", ended["id"])]
    assert (await api.client.get(f"{BASE}/doesNotExist000000000/follow")).status == 404
