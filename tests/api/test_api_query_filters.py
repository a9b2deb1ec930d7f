"""Kestra 2.x's ``filters[<field>][<OPERATION>]=value`` on the executions search, its statistics and the logs
search, on both backends: each field served filters as its plain parameter does; any other is refused."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import ApiHarness

SEARCH = "/api/v1/executions/search"
STATS = "/api/v1/stats/executions"
LOGS = "/api/v1/logs/search"
WAIT = 90.0


def flow(ns: str, flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: {ns}
inputs:
  - id: fail
    type: BOOLEAN
    defaults: false
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "said by {flow_id}"
  - id: check
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ inputs.fail }}}}"
"""


async def get(api: ApiHarness, path: str, *params: tuple[str, str], status: int = 200) -> Any:
    answer = await api.client.get(path, params=list(params))
    assert answer.status == status, await answer.text()
    return await answer.json()


def ids(page: Any) -> set[str]:
    return {e["id"] for e in page["results"]}


async def run(api: ApiHarness, ns: str, flow_id: str, *, fail: bool, label: str) -> str:
    answer = await api.client.post(f"/api/v1/executions/{ns}/{flow_id}", params={"wait": "true", "labels": label},
                                   data={"fail": "true" if fail else "false"})
    assert answer.status == 200, await answer.text()
    return str((await answer.json())["id"])


async def three_runs(api: ApiHarness) -> tuple[str, dict[str, str]]:
    """``ns.a/one`` succeeding (team:a), ``ns.a/one`` failing (team:b), ``ns.b/two`` succeeding (team:a), all
    searchable once answered."""
    ns = f"qf.{uuid.uuid4().hex[:8]}"
    api.flows.deploy(flow(f"{ns}.a", "one"))
    api.flows.deploy(flow(f"{ns}.b", "two"))
    runs = {"ok": await run(api, f"{ns}.a", "one", fail=False, label="team:a"),
            "failed": await run(api, f"{ns}.a", "one", fail=True, label="team:b"),
            "other": await run(api, f"{ns}.b", "two", fail=False, label="team:a")}

    async def indexed() -> bool | None:
        found = await get(api, SEARCH, ("namespace", ns), ("size", "100"))
        return True if {e["id"]: e["state"]["current"] for e in found["results"]} == {
            runs["ok"]: "SUCCESS", runs["failed"]: "FAILED", runs["other"]: "SUCCESS"} else None

    await api.eventually(indexed, within=WAIT)
    return ns, runs


async def test_kestras_filters_select_executions_as_the_plain_parameters_do(api: ApiHarness) -> None:
    ns, runs = await three_runs(api)
    under = ("filters[namespace][PREFIX]", ns)
    assert ids(await get(api, SEARCH, under)) == set(runs.values())
    assert ids(await get(api, SEARCH, ("filters[namespace][PREFIX]", f"{ns}.b"))) == {runs["other"]}
    assert ids(await get(api, SEARCH, under, ("filters[flowId][EQUALS]", "one"))) == {runs["ok"], runs["failed"]}
    assert ids(await get(api, SEARCH, under, ("filters[state][IN]", "FAILED,KILLED"))) == {runs["failed"]}
    assert ids(await get(api, SEARCH, under, ("filters[state][EQUALS]", "FAILED"))) == {runs["failed"]}
    # A repeated filter takes each of its values.
    assert ids(await get(api, SEARCH, under, ("filters[state][EQUALS]", "FAILED"),
                         ("filters[state][EQUALS]", "SUCCESS"))) == set(runs.values())
    assert ids(await get(api, SEARCH, under, ("filters[state][NOT_IN]", "FAILED"))) == {runs["ok"], runs["other"]}
    assert ids(await get(api, SEARCH, under, ("filters[labels][EQUALS][team]", "a"))) == {runs["ok"], runs["other"]}
    assert ids(await get(api, SEARCH, under, ("filters[labels][EQUALS]", "team:b"))) == {runs["failed"]}
    # Both forms at once: every filter holds.
    assert ids(await get(api, SEARCH, under, ("labels", "team:a"), ("filters[flowId][EQUALS]", "two"))) == {
        runs["other"]}
    assert ids(await get(api, SEARCH, under, ("filters[q][EQUALS]", "two"))) == {runs["other"]}
    assert ids(await get(api, SEARCH, under, ("filters[timeRange][EQUALS]", "P1D"),
                         ("filters[scope][EQUALS]", "USER"))) == set(runs.values())
    assert ids(await get(api, SEARCH, under, ("filters[startDate][LESS_THAN]", "2000-01-01T00:00:00Z"))) == set()
    assert ids(await get(api, SEARCH, under,
                         ("filters[startDate][GREATER_THAN_OR_EQUAL_TO]", "2000-01-01T00:00:00Z"))) == set(
        runs.values())


async def test_the_statistics_and_the_logs_search_read_the_same_filters(api: ApiHarness) -> None:
    ns, _runs = await three_runs(api)
    under = ("filters[namespace][PREFIX]", ns)
    counted = await get(api, f"{STATS}/count-by-state", under, ("filters[flowId][EQUALS]", "one"))
    assert counted["total"] == 2 and counted["counts"]["FAILED"] == 1
    daily = await get(api, f"{STATS}/daily", under, ("filters[state][IN]", "SUCCESS"))
    assert sum(sum(d["executionCounts"].values()) for d in daily) == 2
    flows = await get(api, f"{STATS}/most-run-flows", under, ("filters[labels][EQUALS][team]", "b"))
    assert [(f["flowId"], f["total"]) for f in flows] == [("one", 1)]

    async def logged() -> Any:
        found = await get(api, LOGS, ("filters[namespace][PREFIX]", f"{ns}.b"), ("size", "100"),
                          ("filters[level][GREATER_THAN_OR_EQUAL_TO]", "INFO"))
        return found if found["total"] else None

    lines = await api.eventually(logged, within=WAIT)
    assert {line["flowId"] for line in lines["results"]} == {"two"}
    assert "said by two" in {line["message"] for line in lines["results"]}
    errors = await get(api, LOGS, ("filters[namespace][PREFIX]", f"{ns}.b"),
                       ("filters[level][GREATER_THAN_OR_EQUAL_TO]", "ERROR"))
    assert errors["total"] == 0


async def test_a_filter_that_is_not_served_is_refused_naming_what_is(api: ApiHarness) -> None:
    for path, params in [
            (SEARCH, ("filters[tags][EQUALS]", "x")),
            (SEARCH, ("filters[namespace][STARTS_WITH]", "a")),
            (SEARCH, ("filters[endDate][LESS_THAN]", "2030-01-01T00:00:00Z")),
            (SEARCH, ("filters[or][0][flowId][EQUALS]", "x")),
            (SEARCH, ("filters[flowId][EQUALS][key]", "x")),
            (f"{STATS}/count-by-state", ("filters[timeRange][EQUALS]", "P1D")),
            (f"{STATS}/daily", ("filters[flowId][CONTAINS]", "x")),
            (f"{STATS}/most-run-flows", ("filters[state][REGEX]", "x")),
            (LOGS, ("filters[level][EQUALS]", "INFO")),
            (LOGS, ("filters[state][IN]", "FAILED"))]:
        body = await get(api, path, params, status=400)
        assert f"`{params[0]}`" in body["message"], (path, body)
        assert "flowId: EQUALS" in body["message"] and "filters[<field>][<OPERATION>]=value" in body["message"]
    system = await get(api, SEARCH, ("filters[scope][EQUALS]", "SYSTEM"), status=400)
    assert "only USER" in system["message"]
    unknown_state = await get(api, SEARCH, ("filters[state][NOT_IN]", "DONE"), status=400)
    assert "unknown state DONE" in unknown_state["message"]
    empty = await get(api, SEARCH, ("filters[state][IN]", " , "), status=400)
    assert "list is empty" in empty["message"]
    twice = await get(api, SEARCH, ("flowId", "a"), ("filters[flowId][EQUALS]", "b"), status=400)
    assert "flowId is given more than once" in twice["message"]
