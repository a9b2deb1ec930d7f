"""Templates on Kafka with each component in its own process: the `kestra-stream executor` process reads the
template a flow includes from the internal storage under its --home, which the worker and the API share."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from kestra_stream.models.state import StateType
from kestra_stream.templates import TemplateStore

pytestmark = [pytest.mark.kafka]

TEMPLATE = """
id: steps
namespace: it.templates
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ parent.outputs.args.who }}"
"""

FLOW = """
id: includes
namespace: it.templates
tasks:
  - id: include
    type: io.kestra.plugin.core.flow.Template
    namespace: it.templates
    templateId: steps
    args:
      who: executor process
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after
"""


async def test_the_executor_process_includes_a_template_saved_in_the_shared_storage(
        kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_STREAM_TEMPLATES_ENABLED", "true")
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"it-tpl-{uuid.uuid4().hex[:10]}.",
                             partitions=2)
    home = tmp_path / "home"
    log = (tmp_path / "executor.log").open("w")
    executor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kestra_stream", "executor", "--home", str(home), "--bootstrap-servers",
        kafka_bootstrap, "--topic-prefix", settings.topic_prefix, "--partitions", "2",
        env={**os.environ}, stdout=asyncio.subprocess.DEVNULL, stderr=log)
    try:
        async with KafkaStack(settings, home=home, executor=False, worker=True) as stack:
            await TemplateStore(stack.storage).save(TEMPLATE)
            stack.deploy(FLOW)
            execution_id = await stack.create_execution("it.templates", "includes")
            execution = await stack.wait(execution_id, timeout=120)

        assert execution.state.current is StateType.SUCCESS, (tmp_path / "executor.log").read_text()
        assert [tr.task_id for tr in execution.task_run_list] == ["include", "greet", "after"]
        assert execution.taskruns_of("include")[0].outputs == {"args": {"who": "executor process"}}
    finally:
        executor.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(executor.wait(), 30)
        except TimeoutError:
            executor.kill()
            await executor.wait()
        log.close()
        delete_topics(settings)
