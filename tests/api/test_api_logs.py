"""Logs endpoints on both backends: by execution, download as text, follow, search."""

from __future__ import annotations

import asyncio
from typing import Any

from kestra_stream.api._logs import ExecutionLogsQuery, keeps, pretty
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import LogLevel
from tests.api.conftest import ApiHarness
from tests.api.test_api_executions import WAIT, create, read_events

LOGS = "/api/v1/logs"


async def ended_with_logs(api: ApiHarness, name: str) -> dict[str, Any]:
    execution = await create(api, "exec_inputs", wait=True, json_inputs={"name": name, "count": 2})
    assert execution["state"]["current"] == "SUCCESS"
    return execution


async def test_logs_of_an_execution_filtered_by_level_and_task_run(api: ApiHarness) -> None:
    execution = await ended_with_logs(api, "Logs")
    answer = await api.client.get(f"{LOGS}/{execution['id']}")
    assert answer.status == 200
    lines = await answer.json()
    messages = [line["message"] for line in lines]
    assert "Hello Logs" in messages and "count=2" in messages
    assert all(line["executionId"] == execution["id"] for line in lines)
    info = await (await api.client.get(f"{LOGS}/{execution['id']}", params={"minLevel": "INFO"})).json()
    assert "count=2" not in [line["message"] for line in info] and "Hello Logs" in [m["message"] for m in info]
    greet = next(tr for tr in execution["taskRunList"] if tr["taskId"] == "greet")
    by_run = await (await api.client.get(f"{LOGS}/{execution['id']}", params={"taskRunId": greet["id"]})).json()
    assert [line["message"] for line in by_run] == ["Hello Logs"]
    by_task = await (await api.client.get(f"{LOGS}/{execution['id']}", params={"taskId": "debug"})).json()
    assert [line["message"] for line in by_task] == ["count=2"]
    assert (await api.client.get(f"{LOGS}/{execution['id']}", params={"minLevel": "LOUD"})).status == 400


async def test_logs_of_an_unknown_execution_are_empty(api: ApiHarness) -> None:
    answer = await api.client.get(f"{LOGS}/doesNotExist000000000")
    assert answer.status == 200 and await answer.json() == []


async def test_download_is_plain_text_one_line_per_entry(api: ApiHarness) -> None:
    execution = await ended_with_logs(api, "Text")
    answer = await api.client.get(f"{LOGS}/{execution['id']}/download", params={"minLevel": "INFO"})
    assert answer.status == 200 and answer.content_type == "text/plain"
    assert execution["id"] in answer.headers["Content-Disposition"]
    text = await answer.text()
    assert any(line.endswith(" INFO Hello Text") for line in text.splitlines())
    assert "count=2" not in text


async def test_follow_streams_the_lines_and_ends_with_the_execution(api: ApiHarness) -> None:
    created = await create(api, "exec_pause")
    async with api.client.get(f"{LOGS}/{created['id']}/follow") as stream:
        assert stream.status == 200
        reader = asyncio.create_task(read_events(stream))
        await asyncio.sleep(0.3)
        assert not reader.done()  # still paused: the stream stays open
        await api.client.post(f"/api/v1/executions/{created['id']}/resume", json={"approved": True})
        events = await asyncio.wait_for(reader, WAIT)
    assert all(event_id == "progress" for event_id, _ in events)
    assert all(data["executionId"] == created["id"] for _, data in events)
    messages = [data["message"] for _, data in events]
    assert messages == ["waiting for approval", "approved=true"]


async def test_follow_of_an_ended_execution_sends_its_lines_then_ends(api: ApiHarness) -> None:
    execution = await ended_with_logs(api, "Followed")
    async with api.client.get(f"{LOGS}/{execution['id']}/follow", params={"minLevel": "INFO"}) as stream:
        events = await asyncio.wait_for(read_events(stream), WAIT)
    assert [data["message"] for _, data in events] == ["Hello Followed"]


async def test_search_finds_lines_by_words_namespace_and_level(api: ApiHarness) -> None:
    execution = await ended_with_logs(api, "Searchable")

    async def found() -> dict[str, Any] | None:
        answer = await api.client.get(f"{LOGS}/search", params={"q": "Searchable", "namespace": "api.executions",
                                                                "minLevel": "INFO"})
        assert answer.status == 200
        page: dict[str, Any] = await answer.json()
        return page if page["total"] >= 1 else None

    page = await api.eventually(found)
    assert [line["executionId"] for line in page["results"]] == [execution["id"]]
    assert page["results"][0]["message"] == "Hello Searchable"
    assert (await api.client.get(f"{LOGS}/search", params={"size": "0"})).status == 400


async def test_search_narrows_lines_to_a_flow_and_a_time_range(api: ApiHarness) -> None:
    execution = await ended_with_logs(api, "Ranged")
    line = next(entry for entry in await (await api.client.get(f"{LOGS}/{execution['id']}")).json()
                if entry["message"] == "Hello Ranged")

    async def search(**params: str) -> list[str]:
        answer = await api.client.get(f"{LOGS}/search", params={"q": "Ranged", **params})
        assert answer.status == 200, await answer.text()
        return [entry["message"] for entry in (await answer.json())["results"]]

    async def indexed() -> bool | None:
        return True if await search(flowId="exec_inputs") else None

    await api.eventually(indexed)
    assert await search(flowId="exec_fail") == []
    assert await search(startDate=line["timestamp"], endDate="2999-01-01T00:00:00Z") == ["Hello Ranged"]
    assert await search(endDate=line["timestamp"]) == []  # the end is excluded
    assert await search(startDate="2999-01-01T00:00:00Z") == []
    assert await search(timeRange="PT1H") == ["Hello Ranged"]
    refused = await api.client.get(f"{LOGS}/search", params={"timeRange": "PT1H", "startDate": line["timestamp"]})
    assert refused.status == 400 and "mutually exclusive" in (await refused.json())["message"]


def test_pretty_lines_and_filters_follow_kestra() -> None:
    from datetime import UTC, datetime

    entry = LogEntry(execution_id="e", namespace="n", flow_id="f", task_id="t", taskrun_id="r",
                     level=LogLevel.WARN, message="careful", timestamp=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert pretty(entry) == "2024-01-02T03:04:05Z WARN careful"
    assert keeps(entry, ExecutionLogsQuery.model_validate({"minLevel": "INFO", "taskRunId": "r"}))
    assert not keeps(entry, ExecutionLogsQuery.model_validate({"minLevel": "ERROR"}))
    assert not keeps(entry, ExecutionLogsQuery.model_validate({"taskId": "other"}))
