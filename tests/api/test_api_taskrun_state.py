"""A task run's state changed by hand (``POST /executions/{id}/state``, Kestra 2.x's ``/actions/state``) on both
backends: the execution runs on from the changed task run; a request that cannot apply says why and changes
nothing."""

from __future__ import annotations

from typing import Any

from kestra_stream.models.state import StateType
from tests.api.conftest import ApiHarness
from tests.api.test_api_executions import BASE, WAIT, create, state_of

TENANT_BASE = "/api/v1/main/executions"


def run_of(execution: dict[str, Any], task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(run for run in execution["taskRunList"] if run["taskId"] == task_id)
    return found


async def ended_after(api: ApiHarness, execution_id: str, restarts: int) -> dict[str, Any]:
    """The execution once it has ended after its ``restarts``-th restart (each state change is one)."""
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = await (await api.client.get(f"{BASE}/{execution_id}")).json()
        histories = [h["state"] for h in body["state"]["histories"]]
        ended = StateType(body["state"]["current"]).is_terminated
        return body if ended and histories.count("RESTARTED") == restarts else None

    return await api.eventually(probe, within=WAIT)


async def test_a_failed_task_run_set_to_success_ends_the_execution_success_at_both_paths(api: ApiHarness) -> None:
    failed = await create(api, "exec_fail", wait=True)
    assert failed["state"]["current"] == "FAILED"
    boom = run_of(failed, "boom")

    answer = await api.client.post(f"{BASE}/{failed['id']}/state", json={"taskRunId": boom["id"], "state": "SUCCESS"})
    assert answer.status == 200, await answer.text()
    assert (await answer.json())["id"] == failed["id"]
    succeeded = await ended_after(api, failed["id"], restarts=1)
    assert succeeded["state"]["current"] == "SUCCESS"
    changed = run_of(succeeded, "boom")
    assert changed["id"] == boom["id"]
    assert [h["state"] for h in changed["state"]["histories"]][-2:] == ["FAILED", "SUCCESS"]
    assert [attempt["state"]["current"] for attempt in changed["attempts"]] == ["SUCCESS"]
    first = run_of(succeeded, "first")
    assert first == run_of(failed, "first")  # what ran before it is kept as it was

    # Kestra 2.x's path (the SDK's update_task_run_state): the first task set FAILED fails the execution.
    again = await api.client.post(f"{TENANT_BASE}/{failed['id']}/actions/state",
                                  json={"taskRunId": first["id"], "state": "FAILED"})
    assert again.status == 200, await again.text()
    refailed = await ended_after(api, failed["id"], restarts=2)
    assert refailed["state"]["current"] == "FAILED"
    assert run_of(refailed, "first")["state"]["current"] == "FAILED"


async def test_a_change_that_cannot_apply_is_refused_saying_what_where_and_how(api: ApiHarness) -> None:
    failed = await create(api, "exec_fail", wait=True)
    boom = run_of(failed, "boom")
    url = f"{BASE}/{failed['id']}/state"

    not_allowed = await api.client.post(url, json={"taskRunId": boom["id"], "state": "RUNNING"})
    assert not_allowed.status == 422
    body = await not_allowed.json()
    assert "cannot be set to RUNNING: choose one of SUCCESS, FAILED, WARNING" in body["message"]
    assert [error["path"] for error in body["errors"]] == ["state"]

    unknown = await api.client.post(url, json={"taskRunId": "no-such-task-run", "state": "SUCCESS"})
    assert unknown.status == 422
    body = await unknown.json()
    assert f"execution '{failed['id']}' has no task run 'no-such-task-run'" in body["message"]
    assert "taskRunList" in body["message"]
    assert [error["path"] for error in body["errors"]] == ["taskRunId"]

    same = await api.client.post(url, json={"taskRunId": boom["id"], "state": "FAILED"})
    assert same.status == 409
    assert "is already FAILED: choose another" in (await same.json())["message"]

    malformed = await api.client.post(url, json={"state": "SUCCESS"})
    assert malformed.status == 422
    assert [error["path"] for error in (await malformed.json())["errors"]] == ["taskRunId"]

    missing = await api.client.post(f"{BASE}/no-such-execution/state", json={"taskRunId": "x", "state": "SUCCESS"})
    assert missing.status == 404

    # None of these changed the execution.
    after = await (await api.client.get(f"{BASE}/{failed['id']}")).json()
    assert after["state"] == failed["state"]


async def test_a_running_execution_is_refused_until_it_has_ended(api: ApiHarness) -> None:
    running = await create(api, "exec_sleep")
    execution = await state_of(api, running["id"], StateType.RUNNING)
    nap = run_of(execution, "nap")

    refused = await api.client.post(f"{BASE}/{running['id']}/state", json={"taskRunId": nap["id"], "state": "SUCCESS"})
    assert refused.status == 409
    assert "still RUNNING: a task run's state can be changed once the execution has ended" in \
        (await refused.json())["message"]
    await api.client.delete(f"{BASE}/{running['id']}/kill")
    killed = await state_of(api, running["id"], StateType.KILLED)

    # Killed, it has ended: the killed nap set to SUCCESS lets the next task run.
    answer = await api.client.post(f"{BASE}/{running['id']}/state",
                                   json={"taskRunId": run_of(killed, "nap")["id"], "state": "SUCCESS"})
    assert answer.status == 200, await answer.text()
    ended = await ended_after(api, running["id"], restarts=1)
    assert ended["state"]["current"] == "SUCCESS"
    assert run_of(ended, "after")["state"]["current"] == "SUCCESS"
