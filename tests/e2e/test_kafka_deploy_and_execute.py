"""A flow deployed and executed at once over HTTP, 200 times, with the API (`kestra-stream webserver`),
the executor and the worker as processes of their own: every execution ends SUCCESS.

The API process knows a revision as soon as it deploys it; the executor reads it from the flows
topic a moment later, maybe after the execution's first event. The executor must wait for that
revision (``flow_wait_seconds``), neither drop the event nor fail the execution. Half the rounds
deploy a new flow, the other half a new revision of the flow deployed just before.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kestra_stream.kafka import KafkaSettings, delete_topics
from kestra_stream.models.state import StateType
from kestra_stream.search import ElasticsearchRepository
from tests._ports import free_port
from tests._waiting import until
from tests.e2e.kafka_crash_driver import Component, Processes, client, fresh_settings, wait_all, where

pytestmark = [pytest.mark.kafka, pytest.mark.elasticsearch, pytest.mark.timeout(900)]

ROUNDS = 200
NAMESPACE = "e2e.deploy"


def flow(flow_id: str, message: str) -> str:
    return f"""
id: {flow_id}
namespace: {NAMESPACE}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"

    def call(self, method: str, path: str, body: str | None = None) -> Any:
        request = urllib.request.Request(f"{self.base}{path}", method=method,
                                         data=body.encode() if body is not None else None,
                                         headers={"Content-Type": "application/x-yaml"} if body else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} answered {exc.code}: {exc.read()[:2000]!r}") from None

    def answers(self) -> bool:
        try:
            self.call("GET", f"/flows/{NAMESPACE}")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return True

    def deploy_and_execute(self, round_: int) -> tuple[str, int]:
        """Round n: an even n deploys flow f<n>, an odd one a new revision of f<n-1>; then executes it at once.
        The execution's id, and the revision deployed."""
        flow_id = f"f{round_ - round_ % 2}"
        source = flow(flow_id, f"round {round_}")
        deployed = (self.call("POST", "/flows", source) if round_ % 2 == 0
                    else self.call("PUT", f"/flows/{NAMESPACE}/{flow_id}", source))
        execution = self.call("POST", f"/executions/{NAMESPACE}/{flow_id}")
        assert execution["flowRevision"] == deployed["revision"] == 1 + round_ % 2, (deployed, execution)
        return str(execution["id"]), int(deployed["revision"])


@pytest.fixture
def index_prefix(elasticsearch_url: str) -> Iterator[str]:
    """The API's index prefix; it creates those indices when it starts, they go when the test ends."""
    prefix = f"e2e_deploy_{uuid.uuid4().hex[:8]}"
    yield prefix
    search = ElasticsearchRepository.connect(elasticsearch_url, prefix=prefix)
    search.drop()
    search.close()


@pytest.fixture
def settings(kafka_bootstrap: str) -> Iterator[KafkaSettings]:
    fresh = fresh_settings(kafka_bootstrap)
    yield fresh
    delete_topics(fresh)


async def test_200_flows_deployed_and_executed_at_once_through_an_api_process_all_end_success(
        settings: KafkaSettings, elasticsearch_url: str, index_prefix: str, tmp_path: Path,
        processes: Processes) -> None:
    port = free_port()
    async with client(settings, tmp_path / "client", []) as stack:
        executor = processes.start(Component("executor", settings, processes.logs / "executor.log"))
        worker = processes.start(Component("worker", settings, processes.logs / "worker.log", home=tmp_path / "w"))
        processes.start(Component("webserver", settings, processes.logs / "webserver.log", home=tmp_path / "api",
                                  options=["--elasticsearch-url", elasticsearch_url, "--index-prefix", index_prefix,
                                    "--port", str(port)]))
        api = Api(port)
        await asyncio.to_thread(executor.wait_for, "kafka_executor_started", within=180)
        await asyncio.to_thread(worker.wait_for, "partitions_assigned", within=180)
        await until(api.answers, "the API answers", within=180, every=0.25, describe=processes.describe)

        started = [await asyncio.to_thread(api.deploy_and_execute, n) for n in range(ROUNDS)]
        ids = [execution_id for execution_id, _ in started]
        ended = await wait_all(stack, ids, within=600, describe=processes.describe)
        assert Counter(e.state.current for e in ended.values()) == {StateType.SUCCESS: ROUNDS}, "\n".join(
            f"{where(stack, i)} {[entry.message for entry in stack.logs(i)][-3:]}"
            for i in ids if ended[i].state.current != StateType.SUCCESS)

        def said(n: int) -> bool:
            return any(entry.message == f"round {n}" for entry in stack.logs(ids[n]))

        # Each ran the revision it was created on: its Log says what its own round deployed.
        await until(lambda: all(said(n) for n in range(ROUNDS)), "every execution logged its round's message",
                    within=120, every=0.5,
                    describe=lambda: f"not yet: {[n for n in range(ROUNDS) if not said(n)][:20]}")

    assert [ended[i].flow_revision for i in ids] == [revision for _, revision in started]
    awaited = executor.saw("flow_revision_awaited")
    print(f"the executor waited for a revision it had not read yet {awaited} times in {ROUNDS} rounds")
