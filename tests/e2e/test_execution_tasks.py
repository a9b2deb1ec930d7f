"""Tasks acting on other executions (execution.Resume, log.Fetch of another execution), on both backends.

Each needs a second execution in a known state first (paused, ended), which a single compat case
cannot arrange: the test drives both executions through the ``Backend`` API.
"""

from __future__ import annotations

from kestra_stream.backend import Backend
from kestra_stream.models.state import StateType
from tests._waiting import until

NS = "e2e.execution.tasks"

PAUSED = f"""
id: paused
namespace: {NS}
tasks:
  - id: hold
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: answer
        type: STRING
  - id: said
    type: io.kestra.plugin.core.debug.Return
    format: "answer {{{{ outputs.hold.onResume.answer }}}}"
"""

RESUMER = f"""
id: resumer
namespace: {NS}
inputs:
  - id: executionId
    type: STRING
tasks:
  - id: resume
    type: io.kestra.plugin.core.execution.Resume
    executionId: "{{{{ inputs.executionId }}}}"
    namespace: {NS}
    flowId: paused
    inputs:
      answer: "{{{{ 6 * 7 }}}}"
"""

FETCHER = f"""
id: fetcher
namespace: {NS}
inputs:
  - id: executionId
    type: STRING
tasks:
  - id: fetch
    type: io.kestra.plugin.core.log.Fetch
    executionId: "{{{{ inputs.executionId }}}}"
    namespace: {NS}
    flowId: logger
"""

LOGGER = f"""
id: logger
namespace: {NS}
tasks:
  - id: one
    type: io.kestra.plugin.core.log.Log
    message: [first, second]
"""


def _state(backend: Backend, execution_id: str) -> StateType | None:
    state = backend.state(execution_id)
    return state.execution.state.current if state is not None else None


async def test_resume_task_resumes_another_paused_execution_with_its_on_resume_inputs(backend: Backend) -> None:
    for source in (PAUSED, RESUMER):
        backend.deploy(source)
    paused_id = await backend.create_execution(NS, "paused")
    await until(lambda: _state(backend, paused_id) == StateType.PAUSED, "the execution to pause")

    resumer = await backend.wait(await backend.create_execution(NS, "resumer", {"executionId": paused_id}),
                                 timeout=120)
    assert resumer.state.current == StateType.SUCCESS

    paused = await backend.wait(paused_id, timeout=120)
    assert paused.state.current == StateType.SUCCESS
    assert paused.taskruns_of("said")[0].outputs == {"value": "answer 42"}


async def test_resume_task_fails_saying_why_when_the_execution_is_not_paused(backend: Backend) -> None:
    for source in (LOGGER, RESUMER, PAUSED):
        backend.deploy(source)
    ended_id = await backend.create_execution(NS, "logger")
    await backend.wait(ended_id, timeout=120)
    resumer_id = await backend.create_execution(NS, "resumer", {"executionId": ended_id})
    resumer = await backend.wait(resumer_id, timeout=120)
    assert resumer.state.current == StateType.FAILED
    # It names the flow it found, since `flowId: paused` is not the ended execution's.
    assert any(f"is one of flow {NS}.logger" in line.message for line in backend.logs(resumer_id))


async def test_fetch_reads_the_logs_of_another_execution_of_a_named_flow(backend: Backend) -> None:
    for source in (LOGGER, FETCHER):
        backend.deploy(source)
    logger_id = await backend.create_execution(NS, "logger")
    await backend.wait(logger_id, timeout=120)
    fetcher = await backend.wait(await backend.create_execution(NS, "fetcher", {"executionId": logger_id}),
                                 timeout=120)
    assert fetcher.state.current == StateType.SUCCESS
    assert fetcher.taskruns_of("fetch")[0].outputs is not None
    assert fetcher.taskruns_of("fetch")[0].outputs["size"] == 2


TOGGLER = f"""
id: toggler
namespace: {NS}
tasks:
  - id: toggle
    type: io.kestra.plugin.core.trigger.Toggle
    trigger: hourly
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
"""


async def test_toggle_fails_saying_why_where_no_scheduler_runs(backend: Backend) -> None:
    backend.deploy(TOGGLER)
    execution_id = await backend.create_execution(NS, "toggler")
    execution = await backend.wait(execution_id, timeout=120)
    assert execution.state.current == StateType.FAILED
    assert any("no scheduler runs in this process" in line.message for line in backend.logs(execution_id))
