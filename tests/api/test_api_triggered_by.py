"""The executions list's "triggered by" filter on both backends, over executions really started by a
schedule, a webhook, a Flow trigger and by hand; Kestra's ``triggerExecutionId`` and ``childFilter`` too."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from kestra_stream.scheduler import Scheduler, SqliteTriggerStore
from kestra_stream.triggers import FlowTriggers
from tests._clock import Clock
from tests.api.conftest import ApiHarness

SEARCH = "/api/v1/executions/search"
STATS = "/api/v1/stats/executions"
WAIT = 90.0
KINDS = "MANUAL, SCHEDULE, WEBHOOK, FLOW, REALTIME, POLLING, SUBFLOW"


def work_flow(ns: str, key: str) -> str:
    return f"""
id: work
namespace: {ns}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: working
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: {key}
  - id: hourly
    type: io.kestra.core.models.triggers.types.Schedule
    cron: "0 * * * *"
"""


def after_flow(ns: str) -> str:
    return f"""
id: after
namespace: {ns}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "after {{{{ trigger.executionId }}}}"
triggers:
  - id: on_work
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: {ns}
        flowId: work
"""


async def search(api: ApiHarness, *params: tuple[str, str], status: int = 200) -> Any:
    answer = await api.client.get(SEARCH, params=[*params, ("size", "100")])
    assert answer.status == status, await answer.text()
    return await answer.json()


async def started_every_way(api: ApiHarness, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Three runs of ``work`` (by hand, its webhook, its schedule), each followed by a Flow-triggered ``after``.

    Answers the namespace and the ids of the three runs of ``work``, once all six executions ended and are
    searchable.
    """
    ns = f"trig.{uuid.uuid4().hex[:8]}"
    key = f"k-{uuid.uuid4().hex[:8]}"
    api.flows.deploy(work_flow(ns, key))
    api.flows.deploy(after_flow(ns))
    runs: dict[str, str] = {}
    clock = Clock("2025-01-01T10:20:00+00:00")
    store = SqliteTriggerStore(tmp_path / "triggers.db")
    scheduler = Scheduler(api.backend, api.flows, store, storage=api.storage, now=clock,
                          owns=lambda uid: uid.startswith(f"{ns}/"))
    try:
        async with FlowTriggers(api.backend, api.flows, home=tmp_path / "flow-triggers"):
            manual = await api.client.post(f"/api/v1/executions/{ns}/work")
            assert manual.status == 200, await manual.text()
            runs["MANUAL"] = (await manual.json())["id"]
            hooked = await api.client.post(f"/api/v1/executions/webhook/{ns}/work/{key}", json={"n": 1})
            assert hooked.status == 200, await hooked.text()
            runs["WEBHOOK"] = (await hooked.json())["id"]
            await scheduler.tick()  # a new schedule starts from now: 10:00 is not fired
            clock.value = datetime.fromisoformat("2025-01-01T11:00:00.300000+00:00")
            await scheduler.tick()
            runs["SCHEDULE"] = await api.eventually(lambda: _scheduled(api, ns, runs), within=WAIT)
            await api.eventually(lambda: _all_ended(api, ns, 6), within=WAIT)
    finally:
        await scheduler.stop()
        store.close()
    return ns, runs


async def _scheduled(api: ApiHarness, ns: str, runs: dict[str, str]) -> str | None:
    found = (await search(api, ("namespace", ns), ("flowId", "work")))["results"]
    return next((e["id"] for e in found if e["id"] not in runs.values()), None)


async def _all_ended(api: ApiHarness, ns: str, count: int) -> bool | None:
    found = (await search(api, ("namespace", ns)))["results"]
    ended = [e for e in found if e["state"]["current"] == "SUCCESS"]
    return True if len(ended) == count else None


def ids(page: Any) -> set[str]:
    return {e["id"] for e in page["results"]}


async def test_the_list_filters_on_what_started_each_execution(api: ApiHarness, tmp_path: Path) -> None:
    ns, runs = await started_every_way(api, tmp_path)
    for kind, execution_id in runs.items():
        found = await search(api, ("namespace", ns), ("triggeredBy", kind))
        assert ids(found) == {execution_id}, kind
        assert found["results"][0]["trigger"] is None or found["results"][0]["trigger"]["kind"] == kind
    both = await search(api, ("namespace", ns), ("triggeredBy", "WEBHOOK"), ("triggeredBy", "MANUAL"))
    assert ids(both) == {runs["WEBHOOK"], runs["MANUAL"]}
    followers = await search(api, ("namespace", ns), ("triggeredBy", "FLOW"))
    assert {e["flowId"] for e in followers["results"]} == {"after"} and followers["total"] == 3
    assert {e["trigger"]["variables"]["executionId"] for e in followers["results"]} == set(runs.values())
    assert (await search(api, ("namespace", ns), ("triggeredBy", "REALTIME")))["total"] == 0


async def test_kestras_trigger_execution_id_and_child_filter(api: ApiHarness, tmp_path: Path) -> None:
    ns, runs = await started_every_way(api, tmp_path)
    [follower] = (await search(api, ("namespace", ns), ("triggerExecutionId", runs["WEBHOOK"])))["results"]
    assert follower["flowId"] == "after" and follower["trigger"]["variables"]["executionId"] == runs["WEBHOOK"]
    children = await search(api, ("namespace", ns), ("childFilter", "CHILD"))
    assert {e["flowId"] for e in children["results"]} == {"after"} and children["total"] == 3
    assert ids(await search(api, ("namespace", ns), ("childFilter", "MAIN"))) == set(runs.values())
    # Kestra 2.x's form of the same filters (what its SDKs send).
    kestra_form = await search(api, ("namespace", ns), ("filters[triggerExecutionId][EQUALS]", runs["WEBHOOK"]))
    assert ids(kestra_form) == {follower["id"]}
    assert ids(await search(api, ("namespace", ns), ("filters[childFilter][EQUALS]", "MAIN"))) == set(runs.values())
    both = await search(api, ("namespace", ns), ("filters[triggeredBy][IN]", "WEBHOOK,MANUAL"))
    assert ids(both) == {runs["WEBHOOK"], runs["MANUAL"]}


async def test_counts_and_the_daily_histogram_follow_the_triggered_by_filter(api: ApiHarness,
                                                                            tmp_path: Path) -> None:
    ns, _runs = await started_every_way(api, tmp_path)
    counted = await api.client.get(f"{STATS}/count-by-state",
                                   params=[("namespace", ns), ("triggeredBy", "FLOW"), ("triggeredBy", "SCHEDULE")])
    assert counted.status == 200, await counted.text()
    assert (await counted.json())["total"] == 4
    daily = await api.client.get(f"{STATS}/daily", params=[("namespace", ns), ("triggeredBy", "WEBHOOK")])
    assert daily.status == 200, await daily.text()
    assert sum(sum(d["executionCounts"].values()) for d in await daily.json()) == 1


async def test_an_unknown_trigger_kind_is_refused_naming_the_allowed_ones(api: ApiHarness) -> None:
    for path in (SEARCH, f"{STATS}/count-by-state", f"{STATS}/daily"):
        answer = await api.client.get(path, params=[("triggeredBy", "CRON")])
        assert answer.status == 400, path
        body = await answer.json()
        [detail] = body["errors"]
        assert detail["path"] == "triggeredBy.0"
        assert all(kind in detail["message"] for kind in KINDS.split(", ")), detail
    answer = await api.client.get(SEARCH, params=[("childFilter", "ORPHAN")])
    assert answer.status == 400 and "CHILD" in (await answer.json())["errors"][0]["message"]


async def test_kestras_form_of_the_filters_is_refused_with_an_unknown_value_operation_or_a_contradiction(
        api: ApiHarness) -> None:
    unknown = await api.client.get(SEARCH, params=[("filters[triggeredBy][IN]", "FLOW,CRON")])
    assert unknown.status == 400
    [detail] = (await unknown.json())["errors"]
    assert detail["path"] == "triggeredBy.1" and all(kind in detail["message"] for kind in KINDS.split(", "))
    operation = await api.client.get(SEARCH, params=[("filters[triggeredBy][CONTAINS]", "FLOW")])
    assert operation.status == 400
    assert "triggeredBy is not filtered with CONTAINS here" in (message := (await operation.json())["message"])
    assert "triggeredBy: EQUALS, IN" in message
    twice = await api.client.get(SEARCH, params=[("filters[childFilter][EQUALS]", "MAIN"), ("childFilter", "CHILD")])
    assert twice.status == 400 and "childFilter is given more than once" in (await twice.json())["message"]
