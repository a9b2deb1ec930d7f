"""Execution commands at Kestra 2.x's paths (``/actions/...``), the bulk ``by-ids`` commands, and an
execution's flow and coloured graph, on both backends."""

from __future__ import annotations

from typing import Any

from kestra_stream.models.state import StateType
from tests.api.conftest import ApiHarness
from tests.api.test_api_executions import BASE, NS, WAIT, create, state_of

TENANT_BASE = "/api/v1/main/executions"


async def test_the_actions_paths_kill_restart_and_replay_answering_the_execution(api: ApiHarness) -> None:
    running = await create(api, "exec_sleep")
    await state_of(api, running["id"], StateType.RUNNING)
    killed = await api.client.delete(f"{TENANT_BASE}/{running['id']}/actions/kill")
    assert killed.status == 202, await killed.text()
    assert (await killed.json())["id"] == running["id"]
    await state_of(api, running["id"], StateType.KILLED)

    restarted = await api.client.post(f"{TENANT_BASE}/{running['id']}/actions/restart")
    assert restarted.status == 200, await restarted.text()
    assert (await restarted.json())["id"] == running["id"]
    await state_of(api, running["id"], StateType.RUNNING)
    await api.client.delete(f"{BASE}/{running['id']}/kill")
    await state_of(api, running["id"], StateType.KILLED)

    failed = await create(api, "exec_fail", wait=True)
    boom = next(run for run in failed["taskRunList"] if run["taskId"] == "boom")
    replayed = await api.client.post(f"{TENANT_BASE}/{failed['id']}/actions/replay", params={"taskRunId": boom["id"]})
    assert replayed.status == 200, await replayed.text()
    replay = await replayed.json()
    assert replay["id"] != failed["id"] and replay["originalId"] == failed["id"]
    ended = await api.backend.wait(replay["id"], WAIT)
    assert ended.state.current == StateType.FAILED
    assert [run.task_id for run in ended.task_run_list] == ["first", "boom"]


async def test_the_actions_paths_pause_resume_and_labels(api: ApiHarness) -> None:
    running = await create(api, "exec_sleep")
    await state_of(api, running["id"], StateType.RUNNING)
    paused = await api.client.post(f"{TENANT_BASE}/{running['id']}/actions/pause")
    assert paused.status == 200, await paused.text()
    assert (await paused.json())["id"] == running["id"]
    await state_of(api, running["id"], StateType.PAUSED)
    resumed = await api.client.post(f"{TENANT_BASE}/{running['id']}/actions/resume")
    assert resumed.status == 200, await resumed.text()
    await state_of(api, running["id"], StateType.RUNNING)
    await api.client.delete(f"{TENANT_BASE}/{running['id']}/actions/kill")
    await state_of(api, running["id"], StateType.KILLED)

    labelled = await api.client.post(f"{TENANT_BASE}/{running['id']}/actions/labels",
                                     json=[{"key": "reviewed", "value": "yes"}])
    assert labelled.status == 200, await labelled.text()
    assert {"key": "reviewed", "value": "yes"} in (await labelled.json())["labels"]


async def test_bulk_kill_is_all_or_nothing_and_counts_what_it_killed(api: ApiHarness) -> None:
    first, second = await create(api, "exec_sleep"), await create(api, "exec_sleep")
    for execution in (first, second):
        await state_of(api, execution["id"], StateType.RUNNING)

    refused = await api.client.delete(f"{BASE}/kill/by-ids", json=[first["id"], "no-such-execution"])
    assert refused.status == 400
    body = await refused.json()
    assert "invalid bulk kill" in body["message"]
    assert [error["path"] for error in body["errors"]] == ["no-such-execution"]
    assert (await state_of(api, first["id"], StateType.RUNNING))["id"] == first["id"]  # nothing was done

    killed = await api.client.delete(f"{BASE}/kill/by-ids", json=[first["id"], second["id"]])
    assert killed.status == 200, await killed.text()
    assert await killed.json() == {"count": 2}
    for execution in (first, second):
        await state_of(api, execution["id"], StateType.KILLED)


async def test_bulk_restart_replay_and_delete_by_ids(api: ApiHarness) -> None:
    failed = await create(api, "exec_fail", wait=True)
    succeeded = await create(api, "exec_inputs", wait=True, json_inputs={"name": "Ada", "count": 1})

    not_failed = await api.client.post(f"{BASE}/restart/by-ids", json=[failed["id"], succeeded["id"]])
    assert not_failed.status == 400
    assert [error["path"] for error in (await not_failed.json())["errors"]] == [succeeded["id"]]

    restarted = await api.client.post(f"{BASE}/restart/by-ids", json=[failed["id"]])
    assert await restarted.json() == {"count": 1}
    ended = await api.eventually(lambda: _ended_again(api, failed["id"]), within=WAIT)
    assert ended["state"]["current"] == "FAILED"

    replayed = await api.client.post(f"{BASE}/replay/by-ids", json=[succeeded["id"]])
    assert await replayed.json() == {"count": 1}

    async def replay_of_succeeded() -> dict[str, Any] | None:
        answer = await api.client.get(f"{BASE}/search", params={"namespace": NS, "flowId": "exec_inputs",
                                                                "size": "100"})
        found = [e for e in (await answer.json())["results"] if e.get("originalId") == succeeded["id"]]
        return found[0] if found else None

    await api.eventually(replay_of_succeeded, within=WAIT)

    deleted = await api.client.delete(f"{BASE}/by-ids", json=[succeeded["id"], failed["id"]])
    assert deleted.status == 200, await deleted.text()
    assert await deleted.json() == {"count": 2}
    assert (await api.client.get(f"{BASE}/{succeeded['id']}")).status == 404


async def _ended_again(api: ApiHarness, execution_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = await (await api.client.get(f"{BASE}/{execution_id}")).json()
    histories = [h["state"] for h in body["state"]["histories"]]
    return body if "RESTARTED" in histories and body["state"]["current"] == "FAILED" else None


async def test_the_graph_of_an_execution_colours_each_task_by_its_runs(api: ApiHarness) -> None:
    failed = await create(api, "exec_fail", wait=True)
    answer = await api.client.get(f"{TENANT_BASE}/{failed['id']}/graph")
    assert answer.status == 200, await answer.text()
    nodes = {node["uid"]: node for node in (await answer.json())["nodes"]}
    assert nodes["root.first"]["state"] == "SUCCESS"
    assert nodes["root.boom"]["state"] == "FAILED"
    assert nodes["root.boom"]["taskRun"]["taskId"] == "boom"
    assert "state" not in nodes["root._start"]


async def test_the_flow_of_an_execution_is_the_revision_it_ran(api: ApiHarness) -> None:
    source = ("id: exec_revised\nnamespace: api.executions\ntasks:\n"
              "  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: first\n")
    api.flows.deploy(source)
    execution = await create(api, "exec_revised", wait=True)
    api.flows.deploy(source.replace("first", "second"))
    answer = await api.client.get(f"{BASE}/{execution['id']}/flow")
    assert answer.status == 200, await answer.text()
    flow = await answer.json()
    assert flow["revision"] == execution["flowRevision"]
    assert flow["tasks"][0]["message"] == "first"
    assert "message: first" in flow["source"]

    latest = await api.client.get(f"{BASE}/flows/{NS}/exec_revised")
    assert (await latest.json())["tasks"][0]["message"] == "second"
    first = await api.client.get(f"{BASE}/flows/{NS}/exec_revised", params={"revision": str(flow["revision"])})
    assert (await first.json())["tasks"][0]["message"] == "first"

