"""Health, readiness, configuration and Prometheus metrics, on both backends."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kestra_stream.api import ApiSettings, create_app
from kestra_stream.api._metrics import install_metrics
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.search import ElasticsearchRepository, SqliteRepository
from tests.api.conftest import ApiHarness, build_services


def _metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def _metrics_client(api: ApiHarness, settings: ApiSettings | None = None) -> TestClient[Any, Any]:
    services = build_services(api.backend, api.flows, api.search, api.storage, api.backend_name, settings)
    app = create_app(services)
    install_metrics(app, services)
    return TestClient(TestServer(app))


async def test_health_and_liveness_answer_up(api: ApiHarness) -> None:
    for path in ("/health", "/health/liveness"):
        answer = await api.client.get(path)
        assert answer.status == 200
        assert (await answer.json())["status"] == "UP"


async def test_readiness_reports_backend_search_and_storage_up(api: ApiHarness) -> None:
    if isinstance(api.search, ElasticsearchRepository):
        api.search.setup()  # as every server does at start: search is not ready before its indices exist
    for path in ("/health/readiness", "/health/ready"):
        answer = await api.client.get(path)
        body = await answer.json()
        assert answer.status == 200, body
        assert body["status"] == "UP"
        assert body["details"] == {"backend": {"status": "UP"}, "search": {"status": "UP"},
                                   "storage": {"status": "UP"}}


async def test_configs_tell_the_version_and_backend_and_no_secret(api: ApiHarness) -> None:
    for prefix in ("/api/v1", "/api/v1/main"):
        answer = await api.client.get(f"{prefix}/configs")
        body = await answer.json()
        assert answer.status == 200
        assert body["backend"] == api.backend_name
        assert body["isBasicAuthEnabled"] is False
        assert body["isTaskRunEnabled"] is False and body["systemNamespace"] == "system"
        assert re.match(r"^\d+\.\d+", body["version"])


async def test_metrics_count_requests_by_route_and_executions_by_final_state(api: ApiHarness) -> None:
    async with _metrics_client(api) as client:
        for _ in range(3):
            assert (await client.get("/api/v1/main/configs")).status == 200
        assert (await client.get("/api/v1/namespaces/api.tests/kv/nothing-here")).status == 404
        execution_id = await api.backend.create_execution("api.tests", "hello", {"name": "metrics"})
        await api.backend.wait(execution_id, timeout=30)

        async def scraped() -> str | None:
            answer = await client.get("/metrics")
            assert answer.status == 200 and answer.content_type == "text/plain"
            text = await answer.text()
            ended = _metric(text, "kestra_executions_ended_total", namespace="api.tests", flow_id="hello",
                            state="SUCCESS")
            return text if ended is not None else None

        text = await api.eventually(scraped)
    assert _metric(text, "kestra_http_requests_total", method="GET", route="/api/v1/configs", status="200") == 3
    assert _metric(text, "kestra_http_requests_total", method="GET",
                   route="/api/v1/namespaces/{namespace}/kv/{key}", status="404") == 1
    assert _metric(text, "kestra_http_request_duration_seconds_count", method="GET", route="/api/v1/configs") == 3
    assert _metric(text, "kestra_executions_ended_total", namespace="api.tests", flow_id="hello",
                   state="SUCCESS") == 1
    assert _metric(text, "kestra_executions_created_total", namespace="api.tests", flow_id="hello") == 1
    assert _metric(text, "kestra_info", backend=api.backend_name) == 1


async def test_unknown_paths_are_counted_under_one_label(api: ApiHarness) -> None:
    async with _metrics_client(api) as client:
        for path in ("/nowhere/1", "/nowhere/2"):
            assert (await client.get(path)).status == 404
        text = await (await client.get("/metrics")).text()
    assert _metric(text, "kestra_http_requests_total", route="unmatched", status="404") == 2
    assert "/nowhere" not in text


# ----- one backend is enough below: what is checked does not depend on it -------------------------

@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    async with EmbeddedEngine(tmp_path / "home") as engine:
        yield engine


async def test_readiness_is_503_naming_the_part_that_does_not_answer(engine: EmbeddedEngine) -> None:
    search = SqliteRepository(":memory:")
    search.close()  # every query now fails, as a lost database would
    services = build_services(engine, engine.flows, search, engine.storage, "embedded")
    async with TestClient(TestServer(create_app(services))) as client:
        answer = await client.get("/health/readiness")
        body = await answer.json()
        assert (await client.get("/health")).status == 200  # alive, only not ready
    assert answer.status == 503
    assert [e["path"] for e in body["errors"]] == ["search"]
    assert body["message"].startswith("not ready: search failed")


async def test_with_authentication_health_and_configs_stay_public_and_metrics_do_not(
        engine: EmbeddedEngine) -> None:
    settings = ApiSettings.model_validate({"basic_auth": {"admin": "pa55word"}, "tokens": ["tok-9"]})
    services = build_services(engine, engine.flows, SqliteRepository(":memory:"), engine.storage, "embedded",
                              settings)
    app = create_app(services)
    install_metrics(app, services)
    async with TestClient(TestServer(app)) as client:
        for path in ("/health", "/health/ready", "/api/v1/configs"):
            answer = await client.get(path)
            assert answer.status == 200, path
        configs = await (await client.get("/api/v1/configs")).text()
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer tok-9"})).status == 200
        basic = "Basic " + base64.b64encode(b"admin:pa55word").decode()
        assert (await client.get("/metrics", headers={"Authorization": basic})).status == 200
    assert '"isBasicAuthEnabled":true' in configs
    assert "pa55word" not in configs and "tok-9" not in configs and "admin" not in configs


async def test_metrics_without_installed_registry_answer_503_saying_how_to_fix(engine: EmbeddedEngine) -> None:
    services = build_services(engine, engine.flows, SqliteRepository(":memory:"), engine.storage, "embedded")
    app = create_app(services)
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/metrics")
        if answer.status == 200:  # create_app installs the metrics itself once the lead wires it in
            assert "kestra_info" in await answer.text()
            return
        assert answer.status == 503
        assert "install_metrics" in (await answer.json())["message"]


async def test_installing_metrics_twice_keeps_one_registry(engine: EmbeddedEngine) -> None:
    services = build_services(engine, engine.flows, SqliteRepository(":memory:"), engine.storage, "embedded")
    app = create_app(services)
    first = install_metrics(app, services)
    assert install_metrics(app, services) is first
    async with TestClient(TestServer(app)) as client:
        await client.get("/health")
        text = await (await client.get("/metrics")).text()
    assert _metric(text, "kestra_http_requests_total", route="/health", status="200") == 1
