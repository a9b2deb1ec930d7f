"""The ``backend`` fixture: every end-to-end behaviour test runs once per backend, embedded and Kafka.

The embedded engine is cheap: a fresh one per test, on the test's own event loop. A Kafka stack
takes seconds to start (topics, a faust executor, a worker group), so one stack serves the whole
session: it runs on an event loop of its own, on a thread of its own, and each test talks to it
through ``ThreadedBackend``, which hands every coroutine over to that loop and awaits the outcome
from the test's loop. pytest-asyncio fixtures are function-scoped, which is why the stack does
not live on a test's loop.

Both backends see the same environment (``E2E_ENVIRON``): a Kafka stack reads ``ENV_*`` variables
once, when it is built, so a test cannot set them for itself.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kestra_stream.backend import Backend
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from tests.e2e.kafka_crash_driver import Processes

__all__ = ["E2E_ENVIRON", "FLOWS", "LoopThread", "SeenExecutions", "ThreadedBackend", "deploy_all"]

T = TypeVar("T")

FLOWS = Path(__file__).parent / "flows"
E2E_ENVIRON: Mapping[str, str] = {**os.environ, "ENV_E2E_GREETING": "bonjour"}
START_TIMEOUT = 60.0


def deploy_all(backend: Backend) -> None:
    for path in sorted(FLOWS.glob("*.yaml")):
        backend.deploy(path.read_text(), file=str(path))


class LoopThread:
    """An asyncio event loop running forever on a daemon thread, until ``close``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Blocks the calling thread (never the loop's own) until the coroutine is done."""
        return self.submit(coroutine).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class ThreadedBackend:
    """A backend living on a ``LoopThread``, offered to coroutines of any other loop (the Backend protocol)."""

    def __init__(self, backend: Backend, loop: LoopThread) -> None:
        self._backend = backend
        self._loop = loop

    async def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self._loop.submit(coroutine))

    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        return self._backend.deploy(source, file=file)

    async def create_execution(self, namespace: str, flow_id: str, inputs: Mapping[str, Any] | None = None, *,
                               labels: Mapping[str, str] | None = None, from_text: bool = False,
                               revision: int | None = None, trigger: dict[str, Any] | None = None,
                               execution_id: str | None = None, schedule_date: datetime | None = None) -> str:
        return await self._call(self._backend.create_execution(namespace, flow_id, inputs, labels=labels,
                                                               from_text=from_text, revision=revision,
                                                               trigger=trigger, execution_id=execution_id,
                                                               schedule_date=schedule_date))

    async def wait(self, execution_id: str, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        return await self._call(self._backend.wait(execution_id, timeout))

    def state(self, execution_id: str) -> ExecutionState | None:
        return self._backend.state(execution_id)

    def logs(self, execution_id: str) -> list[LogEntry]:
        return self._backend.logs(execution_id)

    def subscribe(self, listener: Callable[[ExecutionState], None]) -> None:
        self._backend.subscribe(listener)

    async def kill(self, execution_id: str) -> None:
        await self._call(self._backend.kill(execution_id))

    async def pause(self, execution_id: str) -> None:
        await self._call(self._backend.pause(execution_id))

    async def resume(self, execution_id: str, inputs: Mapping[str, Any] | None = None, *,
                     from_text: bool = False) -> None:
        await self._call(self._backend.resume(execution_id, inputs, from_text=from_text))

    async def restart(self, execution_id: str) -> None:
        await self._call(self._backend.restart(execution_id))

    async def replay(self, execution_id: str, taskrun_id: str | None = None) -> str:
        return await self._call(self._backend.replay(execution_id, taskrun_id))

    async def set_taskrun_state(self, execution_id: str, taskrun_id: str, state: StateType) -> None:
        await self._call(self._backend.set_taskrun_state(execution_id, taskrun_id, state))

    async def set_labels(self, execution_id: str, labels: Mapping[str, str]) -> Execution:
        return await self._call(self._backend.set_labels(execution_id, labels))

    async def delete_execution(self, execution_id: str) -> int | None:
        return await self._call(self._backend.delete_execution(execution_id))


class SeenExecutions:
    """Every execution snapshot the backend publishes, by flow id (listeners run on any thread)."""

    def __init__(self, backend: Backend) -> None:
        self._lock = threading.Lock()
        self._by_flow: dict[str, dict[str, Execution]] = {}
        backend.subscribe(self._take)

    def _take(self, state: ExecutionState) -> None:
        with self._lock:
            self._by_flow.setdefault(state.execution.flow_id, {})[state.execution.id] = state.execution

    def of(self, flow_id: str) -> list[Execution]:
        with self._lock:
            return list(self._by_flow.get(flow_id, {}).values())

    async def ended(self, flow_id: str, count: int = 1, within: float = 30.0) -> list[Execution]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            done = [e for e in self.of(flow_id) if e.state.current.is_terminated]
            if len(done) >= count:
                return done
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} ended execution(s) of {flow_id} expected within {within}s; "
                             f"saw {[e.state.current for e in self.of(flow_id)]}")


@pytest.fixture(scope="module")
def kafka_backend(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedBackend]:
    """One Kafka stack (executor and worker in this process) on fresh topics, for a test module.

    Not for the session: its background threads would go on running (and drawing from the global
    `random`) under unrelated tests, Hypothesis' among them."""
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"e2e-{uuid.uuid4().hex[:10]}.",
                             partitions=2)
    stack = KafkaStack(settings, home=tmp_path_factory.mktemp("kafka-home"), environ=E2E_ENVIRON)
    loop = LoopThread("e2e-kafka-stack")
    try:
        loop.run(stack.start(), START_TIMEOUT)
        deploy_all(stack)
        yield ThreadedBackend(stack, loop)
    finally:
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        delete_topics(settings)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "kafka":
        yield request.getfixturevalue("kafka_backend")
        return
    async with EmbeddedEngine(tmp_path / "home", environ=E2E_ENVIRON) as engine:
        deploy_all(engine)
        yield engine



@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Component processes a test starts (their logs under ``logs/``), all killed when it ends."""
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Processes(logs)
    yield running
    running.close()
