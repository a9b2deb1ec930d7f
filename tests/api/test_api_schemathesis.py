"""schemathesis against the OpenAPI document, every operation on a real server of each backend.

The application is served over TCP (aiohttp ``AppRunner``) from an event loop on a thread of its
own, because schemathesis sends its requests synchronously. Each operation gets a bounded number
of generated requests; every answer must not be a server error, must use a status code the
document lists, and must conform to the schema and content type the document gives for it.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kestra_stream.api import ROUTE_TABLES, ApiServices, create_app, openapi_document
from kestra_stream.api._metrics import install_metrics
from kestra_stream.backend import Backend, FlowRepository
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.indexer import EmbeddedIndexer
from kestra_stream.models.execution import TriggeredBy
from kestra_stream.search import ElasticsearchRepository, SearchRepository, SqliteRepository
from kestra_stream.storage import Storage
from tests.api.conftest import build_services, deploy_api_flows
from tests.e2e.conftest import E2E_ENVIRON, START_TIMEOUT, LoopThread

# The Kafka stack's client threads (aiokafka under faust) draw from the global `random` while
# Hypothesis generates a request, which it reports as if the strategy had: not the strategy's doing.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning")

# Bounded so the whole run stays within a couple of minutes; raise it locally to dig deeper.
EXAMPLES_PER_OPERATION = int(os.environ.get("KESTRA_STREAM_SCHEMATHESIS_EXAMPLES", "6"))
REQUEST_TIMEOUT = 60.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

DOCUMENT = openapi_document(ROUTE_TABLES, version="test")
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
# Server-sent event streams stay open until their execution ends, by design: generated requests
# would only measure the timeout. Their owners' tests drive them.


def _all_operations() -> list[Any]:
    operations = []
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the OpenAPI document has an invalid operation: {result.err()}")
        operations.append(result.ok())
    return operations


OPERATIONS = [
    operation for operation in _all_operations()
    if "text/event-stream" not in str(operation.definition.raw.get("responses", {}))
]


@dataclass
class Served:
    base_url: str
    backend_name: str


def _serve(loop: LoopThread, services: ApiServices) -> tuple[web.AppRunner, str]:
    async def start() -> tuple[web.AppRunner, str]:
        app = create_app(services)
        install_metrics(app, services)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return runner, f"http://127.0.0.1:{port}"

    return loop.run(start(), START_TIMEOUT)


def _services(backend: Backend, flows: FlowRepository, search: SearchRepository, storage: Storage,
              name: str) -> ApiServices:
    return build_services(backend, flows, search, storage, name)


@pytest.fixture(scope="module", params=["embedded", pytest.param(
    "kafka", marks=[pytest.mark.kafka, pytest.mark.elasticsearch])])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    loop = LoopThread(f"schemathesis-{request.param}")
    try:
        if request.param == "kafka":
            parts: Any = request.getfixturevalue("kafka_api_parts")
            search: ElasticsearchRepository = parts.search
            search.setup()
            runner, base = _serve(loop, _services(parts.backend, parts.stack.flows, search, parts.stack.storage,
                                                  "kafka"))
            yield Served(base, "kafka")
            loop.run(runner.cleanup(), START_TIMEOUT)
            return
        home = tmp_path_factory.mktemp("schemathesis-embedded")
        sqlite = SqliteRepository(home / "search.db")

        async def start_engine() -> tuple[EmbeddedEngine, EmbeddedIndexer]:
            engine = EmbeddedEngine(home / "home", environ=E2E_ENVIRON)
            await engine.start()
            deploy_api_flows(engine.flows)
            indexer = EmbeddedIndexer(engine, sqlite, interval=0.05)
            await indexer.start()
            return engine, indexer

        engine, indexer = loop.run(start_engine(), START_TIMEOUT)
        runner, base = _serve(loop, _services(engine, engine.flows, sqlite, engine.storage, "embedded"))
        yield Served(base, "embedded")
        loop.run(runner.cleanup(), START_TIMEOUT)
        loop.run(indexer.stop(), START_TIMEOUT)
        loop.run(engine.stop(), START_TIMEOUT)
        sqlite.close()
    finally:
        loop.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_answer_is_documented_and_never_a_server_error(served: Served, operation: Any) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(base_url=served.base_url, timeout=REQUEST_TIMEOUT)
        case.validate_response(response, checks=CHECKS)

    check()


def test_every_operation_of_the_document_is_exercised_or_named_as_a_stream() -> None:
    exercised = {op.label for op in OPERATIONS}
    streams = [op.label for op in _all_operations() if op.label not in exercised]
    assert all("follow" in label for label in streams), streams
    assert len(OPERATIONS) + len(streams) == sum(len(methods) for methods in DOCUMENT["paths"].values())


def test_the_served_document_is_the_one_generated(served: Served) -> None:
    with urllib.request.urlopen(f"{served.base_url}/api/v1/openapi.json", timeout=60) as answer:
        served_document = json.loads(answer.read())
    assert served_document["paths"].keys() == DOCUMENT["paths"].keys()



# The filters of what started an execution, on every operation that takes them: the bounded run above may
# leave optional parameters out, so these cases always carry them (schemathesis still draws the rest).
TRIGGER_FILTERED = [op for op in OPERATIONS
                    if {"triggeredBy", "childFilter"} <= {p["name"] for p in op.definition.raw.get("parameters", [])}]


def test_the_trigger_filters_are_documented_on_the_executions_search_and_its_statistics() -> None:
    assert sorted(op.label for op in TRIGGER_FILTERED) == [
        "GET /api/v1/executions/search", "GET /api/v1/stats/executions/count-by-state",
        "GET /api/v1/stats/executions/daily", "GET /api/v1/stats/executions/most-run-flows"]


@pytest.mark.parametrize("operation", TRIGGER_FILTERED, ids=[op.label for op in TRIGGER_FILTERED])
def test_the_trigger_filters_answer_as_documented(served: Served, operation: Any) -> None:
    kinds = st.lists(st.sampled_from([kind.value for kind in TriggeredBy]), min_size=1, max_size=3)
    child = st.sampled_from([None, "CHILD", "MAIN"])

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), triggered_by=kinds, child_filter=child)
    def check(case: Any, triggered_by: list[str], child_filter: str | None) -> None:
        case.query = {**(case.query or {}), "triggeredBy": triggered_by}
        if child_filter is not None:
            case.query["childFilter"] = child_filter
        response = case.call(base_url=served.base_url, timeout=REQUEST_TIMEOUT)
        case.validate_response(response, checks=CHECKS)

    check()
