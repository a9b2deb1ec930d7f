"""Statistics endpoints on both backends, their figures pinned against known executions.

Most tests write execution snapshots of known dates, states and durations into the search index
the API reads (through the repository, as the indexer does), each test under a namespace of its
own; the last one counts executions the engine really ran.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kestra_stream.models.state import StateType
from kestra_stream.search import IndexBatch
from tests.api.conftest import ApiHarness
from tests.integration._search_data import execution

STATS = "/api/v1/stats/executions"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WAIT = 60.0


@pytest.fixture
def ns() -> str:
    return f"stats.{uuid.uuid4().hex[:8]}"


def seed(api: ApiHarness, ns: str) -> None:
    """Seven executions over three days (none on the second): two flows, a child namespace, four states."""
    day = timedelta(days=1)
    api.search.write(IndexBatch(executions=[(e, 1) for e in [
        execution(f"{ns}-1", ns, "etl", StateType.SUCCESS, started=T0, seconds=5, labels={"env": "prod"}),
        execution(f"{ns}-2", ns, "etl", StateType.FAILED, started=T0 + timedelta(hours=2), seconds=50),
        execution(f"{ns}-3", f"{ns}.team", "report", StateType.RUNNING, started=T0 + timedelta(hours=3)),
        execution(f"{ns}-4", ns, "etl", StateType.SUCCESS, started=T0 + 2 * day, seconds=3, labels={"env": "prod"}),
        execution(f"{ns}-5", f"{ns}.team", "report", StateType.SUCCESS, started=T0 + 2 * day, seconds=7),
        execution(f"{ns}-6", f"{ns}.team", "report", StateType.KILLED, started=T0 + 2 * day, seconds=1),
        # A sibling sharing the prefix: never counted under ``ns``.
        execution(f"{ns}-7", f"{ns}work", "etl", StateType.FAILED, started=T0, seconds=1),
    ]]))
    api.search.refresh()


async def get_json(api: ApiHarness, path: str, params: list[tuple[str, str]], status: int = 200) -> Any:
    answer = await api.client.get(f"{STATS}/{path}", params=params)
    assert answer.status == status, await answer.text()
    return await answer.json()


def three_days(ns: str) -> list[tuple[str, str]]:
    return [("namespace", ns), ("startDate", "2026-03-01T00:00:00Z"), ("endDate", "2026-03-03T23:59:59Z")]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {state: n for state, n in counts.items() if n}


async def test_daily_counts_each_day_by_state_with_durations_and_empty_days_as_zeros(api: ApiHarness,
                                                                                     ns: str) -> None:
    seed(api, ns)
    days = await get_json(api, "daily", three_days(ns))
    assert [d["startDate"] for d in days] == ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]
    assert {d["groupBy"] for d in days} == {"day"}
    assert [nonzero(d["executionCounts"]) for d in days] == [
        {"SUCCESS": 1, "FAILED": 1, "RUNNING": 1}, {}, {"SUCCESS": 2, "KILLED": 1}]
    assert set(days[1]["executionCounts"]) == {s.value for s in StateType}
    # The running one has no duration yet: the first day's figures are over 5 s and 50 s.
    assert days[0]["duration"] == {"min": "PT5S", "avg": "PT27.5S", "max": "PT50S", "sum": "PT55S", "count": 2}
    assert days[1]["duration"] == {"min": None, "avg": None, "max": None, "sum": None, "count": 0}
    assert days[2]["duration"]["sum"] == "PT11S"


async def test_daily_follows_the_filters_of_the_executions_search(api: ApiHarness, ns: str) -> None:
    seed(api, ns)

    async def totals(*extra: tuple[str, str]) -> list[int]:
        days = await get_json(api, "daily", [*three_days(ns), *extra])
        return [sum(d["executionCounts"].values()) for d in days]

    assert await totals() == [3, 0, 3]
    assert await totals(("flowId", "report")) == [1, 0, 2]
    assert await totals(("state", "SUCCESS"), ("state", "KILLED")) == [1, 0, 3]
    assert await totals(("labels", "env:prod")) == [1, 0, 1]
    assert await totals(("q", f"{ns}-2")) == [1, 0, 0]
    assert await totals(("namespace", f"{ns}.team")) == [1, 0, 2]


async def test_daily_groups_by_hour_on_a_short_range_or_as_asked(api: ApiHarness, ns: str) -> None:
    seed(api, ns)
    hours = await get_json(api, "daily", [("namespace", ns), ("startDate", "2026-03-01T07:30:00Z"),
                                          ("endDate", "2026-03-01T20:00:00Z")])
    assert {h["groupBy"] for h in hours} == {"hour"}
    assert len(hours) == 14  # 07:00 to 20:00
    assert [(h["startDate"][11:16], sum(h["executionCounts"].values())) for h in hours if
            sum(h["executionCounts"].values())] == [("08:00", 1), ("10:00", 1), ("11:00", 1)]
    weeks = await get_json(api, "daily", [*three_days(ns), ("groupBy", "week")])
    assert [(w["startDate"], sum(w["executionCounts"].values())) for w in weeks] == [
        ("2026-02-23T00:00:00Z", 3), ("2026-03-02T00:00:00Z", 3)]


async def test_daily_without_dates_covers_the_last_30_days(api: ApiHarness, ns: str) -> None:
    days = await get_json(api, "daily", [("namespace", ns)])
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    assert len(days) == 31
    assert days[-1]["startDate"] == today


async def test_daily_in_kestras_post_form_answers_as_the_get_form(api: ApiHarness, ns: str) -> None:
    seed(api, ns)
    body = {"namespace": ns, "startDate": "2026-03-01T00:00:00Z", "endDate": "2026-03-03T23:59:59Z",
            "state": ["SUCCESS"]}
    answer = await api.client.post(f"{STATS}/daily", json=body)
    assert answer.status == 200, await answer.text()
    got = await get_json(api, "daily", [*three_days(ns), ("state", "SUCCESS")])
    assert await answer.json() == got
    refused = await api.client.post(f"{STATS}/daily", json={**body, "scope": ["USER"]})
    assert refused.status == 422
    assert "scope" in await refused.text()


async def test_stats_refuse_reversed_ranges_too_many_intervals_and_unknown_filters(api: ApiHarness,
                                                                                  ns: str) -> None:
    reversed_range = await get_json(api, "daily", [("startDate", "2026-03-02T00:00:00Z"),
                                                   ("endDate", "2026-03-01T00:00:00Z")], status=400)
    assert "swap" in reversed_range["message"]
    too_many = await get_json(api, "daily", [("startDate", "2025-01-01T00:00:00Z"),
                                             ("endDate", "2026-01-01T00:00:00Z"), ("groupBy", "hour")], status=400)
    assert "groupBy" in too_many["message"]
    misspelt = await get_json(api, "count-by-state", [("namespce", ns)], status=400)
    assert "namespce" in str(misspelt)
    await get_json(api, "count-by-state", [("labels", "no-colon")], status=400)


async def test_count_by_state_answers_every_state_the_total_and_the_failure_ratio(api: ApiHarness,
                                                                                ns: str) -> None:
    seed(api, ns)
    counts = await get_json(api, "count-by-state", three_days(ns))
    assert nonzero(counts["counts"]) == {"SUCCESS": 3, "FAILED": 1, "RUNNING": 1, "KILLED": 1}
    assert set(counts["counts"]) == {s.value for s in StateType}
    assert counts["total"] == 6
    assert counts["failureRatio"] == pytest.approx(1 / 5)  # one FAILED of five ended
    only_running = await get_json(api, "count-by-state", [("namespace", ns), ("state", "RUNNING")])
    assert (only_running["total"], only_running["failureRatio"]) == (1, None)


async def test_most_run_flows_rank_flows_by_executions_with_their_states(api: ApiHarness, ns: str) -> None:
    seed(api, ns)
    flows = await get_json(api, "most-run-flows", [("namespace", ns)])
    assert [(f["namespace"], f["flowId"], f["total"], nonzero(f["counts"])) for f in flows] == [
        (ns, "etl", 3, {"SUCCESS": 2, "FAILED": 1}),
        (f"{ns}.team", "report", 3, {"SUCCESS": 1, "RUNNING": 1, "KILLED": 1})]
    top = await get_json(api, "most-run-flows", [("namespace", ns), ("size", "1"),
                                                 ("startDate", "2026-03-02T00:00:00Z")])
    assert [(f["flowId"], f["total"]) for f in top] == [("report", 2)]


async def test_stats_count_the_executions_the_engine_ran(api: ApiHarness) -> None:
    namespace = "api.executions"
    now = datetime.now(UTC)
    window = [("namespace", namespace), ("flowId", "exec_fail"), ("startDate", stamp(now - timedelta(minutes=1))),
              ("endDate", stamp(now + timedelta(hours=1)))]
    for _ in range(2):
        answer = await api.client.post(f"/api/v1/executions/{namespace}/exec_fail", params=[("wait", "true")])
        assert answer.status == 200, await answer.text()

    async def counted() -> dict[str, Any] | None:
        counts: dict[str, Any] = await get_json(api, "count-by-state", window)
        return counts if counts["counts"]["FAILED"] == 2 else None

    counts = await api.eventually(counted, within=WAIT)
    assert (counts["total"], counts["failureRatio"]) == (2, 1.0)
    flows = await get_json(api, "most-run-flows", window)
    assert [(f["flowId"], f["counts"]["FAILED"]) for f in flows] == [("exec_fail", 2)]
    minutes = await get_json(api, "daily", window)
    assert {m["groupBy"] for m in minutes} == {"minute"}
    assert sum(m["executionCounts"]["FAILED"] for m in minutes) == 2
