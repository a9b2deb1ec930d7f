"""The `kestra-stream worker` process's stack: its tasks fetch logs from Elasticsearch and resume
executions without the process following the executions or logs topics."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

import pytest

from kestra_stream.cli.components import worker_stack
from kestra_stream.indexer import IndexerSettings, KafkaIndexer
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.models.state import StateType
from kestra_stream.search import ElasticsearchRepository
from kestra_stream.storage import LocalStorage

pytestmark = [pytest.mark.kafka, pytest.mark.elasticsearch]

EARLIER = """
id: earlier
namespace: it.worker
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: a line of an execution that ended before
"""

PAUSED = """
id: paused
namespace: it.worker
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"""

SERVICES = """
id: services
namespace: it.worker
inputs:
  - id: earlier
    type: STRING
  - id: paused
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: a line of this execution
  - id: fetch
    type: io.kestra.plugin.core.log.Fetch
    tasksId: [hello]
  - id: fetch_earlier
    type: io.kestra.plugin.core.log.Fetch
    namespace: it.worker
    flowId: earlier
    executionId: "{{ inputs.earlier }}"
  - id: resume
    type: io.kestra.plugin.core.execution.Resume
    namespace: it.worker
    flowId: paused
    executionId: "{{ inputs.paused }}"
outputs:
  - id: fetched
    type: STRING
    value: "{{ outputs.fetch.size }}"
  - id: fetched_earlier
    type: STRING
    value: "{{ outputs.fetch_earlier.size }}"
"""


async def test_a_worker_process_fetches_indexed_logs_and_resumes_without_following_the_executions(
        kafka_bootstrap: str, elasticsearch_url: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:10]
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"wp-{run}.", partitions=2)
    repository = ElasticsearchRepository.connect(elasticsearch_url, prefix=f"it_worker_{run}")
    indexer_settings = IndexerSettings(group_id=f"wp-{run}-indexer")
    storage = LocalStorage(tmp_path / "storage")
    # The executions are created and awaited from a process with the executor alone, as the API's.
    driver = KafkaStack(settings, home=tmp_path / "driver", storage=storage, worker=False, environ={})
    worker, triggers = worker_stack(settings, storage, tmp_path / "worker", repository, indexer_settings.group_id)
    indexer = KafkaIndexer(settings, repository, indexer_settings)
    try:
        async with contextlib.AsyncExitStack() as components:
            await asyncio.to_thread(repository.setup)
            await components.enter_async_context(driver)
            await components.enter_async_context(worker)
            components.push_async_callback(triggers.stop)
            indexer.start()
            components.push_async_callback(asyncio.to_thread, indexer.stop)
            for source in (EARLIER, PAUSED, SERVICES):
                driver.deploy(source)

            earlier = await driver.requests.create_execution("it.worker", "earlier")
            assert (await driver.wait(earlier, timeout=120)).state.current is StateType.SUCCESS
            paused = await driver.requests.create_execution("it.worker", "paused")
            await _until_paused(driver, paused)
            services = await driver.requests.create_execution("it.worker", "services",
                                                              {"earlier": earlier, "paused": paused})
            execution = await driver.wait(services, timeout=180)
            assert execution.state.current is StateType.SUCCESS, driver.logs(services)
            assert execution.outputs == {"fetched": "1", "fetched_earlier": "1"}
            assert (await driver.wait(paused, timeout=120)).state.current is StateType.SUCCESS

            # Not one execution in memory, though they ended within the grace: the resumed one was read back
            # from the topic for the request, and not kept.
            assert not worker.executions.follows
            assert worker.executions.held() == 0 and worker.executions.state(paused) is None
    finally:
        repository.drop()
        repository.close()
        delete_topics(settings)


async def _until_paused(stack: KafkaStack, execution_id: str) -> None:
    deadline = time.monotonic() + 120
    while (state := stack.state(execution_id)) is None or state.execution.state.current is not StateType.PAUSED:
        assert time.monotonic() < deadline, f"{execution_id} did not pause"
        await asyncio.sleep(0.05)
