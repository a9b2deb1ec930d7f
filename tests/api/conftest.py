"""The ``api`` fixture: an aiohttp test client on the API of a real backend, once per backend.

Embedded: an ``EmbeddedEngine`` with a SQLite search repository kept up to date by its indexer.
Kafka: one ``KafkaStack`` per test module on fresh topics (on its own loop thread, see
tests/e2e/conftest.py), Elasticsearch fed by a ``KafkaIndexer`` on fresh indices. Searches are
eventually consistent there: use ``ApiHarness.eventually`` to wait for the indexer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kestra_stream.api import ApiServices, ApiSettings, create_app
from kestra_stream.backend import Backend, FlowRepository
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.indexer import EmbeddedIndexer, IndexerSettings, KafkaIndexer
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.plugins import default_registry
from kestra_stream.scheduler import KafkaTriggerStore, SqliteTriggerStore, TriggerStore
from kestra_stream.search import ElasticsearchRepository, SearchRepository, SqliteRepository
from kestra_stream.storage import Storage
from tests.e2e.conftest import E2E_ENVIRON, START_TIMEOUT, LoopThread, ThreadedBackend

__all__ = ["ApiHarness"]

T = TypeVar("T")
FLOWS = Path(__file__).parent / "flows"


@dataclass
class ApiHarness:
    client: TestClient[Any, Any]
    backend: Backend
    flows: FlowRepository
    search: SearchRepository
    storage: Storage
    backend_name: str

    async def eventually(self, probe: Callable[[], Awaitable[T | None]], within: float = 60.0) -> T:
        """The first non-None answer of ``probe`` (called every 100 ms), for what the indexer writes later."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            value = await probe()
            if value is not None:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no answer within {within:g} s")
            await asyncio.sleep(0.1)


def deploy_api_flows(flows: FlowRepository) -> None:
    for path in sorted(FLOWS.glob("*.yaml")):
        flows.deploy(path.read_text(), file=str(path))


@dataclass
class _KafkaParts:
    backend: ThreadedBackend
    stack: KafkaStack
    search: ElasticsearchRepository
    triggers: KafkaTriggerStore


@pytest.fixture(scope="module")
def kafka_api_parts(kafka_bootstrap: str, elasticsearch_url: str,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[_KafkaParts]:
    suffix = uuid.uuid4().hex[:10]
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"api-{suffix}.", partitions=2)
    stack = KafkaStack(settings, home=tmp_path_factory.mktemp("kafka-api-home"), environ=E2E_ENVIRON)
    search = ElasticsearchRepository.connect(elasticsearch_url, prefix=f"api-{suffix}")
    loop = LoopThread("api-kafka-stack")
    indexer = KafkaIndexer(settings, search, IndexerSettings(group_id=f"api-indexer-{suffix}", batch_seconds=0.1))
    triggers = KafkaTriggerStore(settings)
    try:
        loop.run(stack.start(), START_TIMEOUT)
        loop.run(triggers.start(), START_TIMEOUT)
        search.setup()
        deploy_api_flows(stack.flows)
        indexer.start()
        yield _KafkaParts(ThreadedBackend(stack, loop), stack, search, triggers)
    finally:
        indexer.stop()
        loop.run(triggers.stop(), START_TIMEOUT)
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        search.drop()
        search.close()
        delete_topics(settings)


def build_services(backend: Backend, flows: FlowRepository, search: SearchRepository, storage: Storage,
                   backend_name: str, settings: ApiSettings | None = None,
                   triggers: TriggerStore | None = None) -> ApiServices:
    return ApiServices(backend=backend, flows=flows, search=search, storage=storage, registry=default_registry(),
                       settings=settings or ApiSettings(), backend_name=backend_name, triggers=triggers)


@pytest.fixture
def api_settings() -> ApiSettings:
    """Override in a test module to serve the API with other settings (authentication ...)."""
    return ApiSettings()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.elasticsearch])])
async def api(request: pytest.FixtureRequest, tmp_path: Path, api_settings: ApiSettings) -> AsyncIterator[ApiHarness]:
    if request.param == "kafka":
        parts: _KafkaParts = request.getfixturevalue("kafka_api_parts")
        services = build_services(parts.backend, parts.stack.flows, parts.search, parts.stack.storage, "kafka",
                                  api_settings, parts.triggers)
        async with TestClient(TestServer(create_app(services))) as client:
            yield ApiHarness(client, parts.backend, parts.stack.flows, parts.search, parts.stack.storage, "kafka")
        return
    search = SqliteRepository(tmp_path / "search.db")
    async with EmbeddedEngine(tmp_path / "home", environ=E2E_ENVIRON) as engine:
        deploy_api_flows(engine.flows)
        indexer = EmbeddedIndexer(engine, search, interval=0.05)
        await indexer.start()
        triggers = SqliteTriggerStore(tmp_path / "triggers.db")
        services = build_services(engine, engine.flows, search, engine.storage, "embedded", api_settings, triggers)
        try:
            async with TestClient(TestServer(create_app(services))) as client:
                yield ApiHarness(client, engine, engine.flows, search, engine.storage, "embedded")
        finally:
            await indexer.stop()
            search.close()
            triggers.close()
