"""trigger.Toggle on the embedded engine with its scheduler: the trigger state the scheduler reads changes."""

from __future__ import annotations

from pathlib import Path

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.models.state import StateType
from kestra_stream.scheduler import EmbeddedScheduler

NS = "it.toggle"

SCHEDULED = f"""
id: scheduled
namespace: {NS}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
triggers:
  - id: yearly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 0 1 1 *"
"""

TOGGLER = f"""
id: toggler
namespace: {NS}
inputs:
  - id: trigger
    type: STRING
  - id: enabled
    type: BOOL
tasks:
  - id: which
    type: io.kestra.plugin.core.flow.If
    condition: "{{{{ inputs.enabled }}}}"
    then:
      - id: enable
        type: io.kestra.plugin.core.trigger.Toggle
        namespace: "{NS}"
        flowId: scheduled
        trigger: "{{{{ inputs.trigger }}}}"
        enabled: true
    else:
      - id: disable
        type: io.kestra.core.tasks.trigger.Toggle
        namespace: "{NS}"
        flowId: scheduled
        trigger: "{{{{ inputs.trigger }}}}"
"""


async def _toggle(engine: EmbeddedEngine, trigger: str, enabled: bool) -> tuple[StateType, list[str]]:
    execution_id = await engine.create_execution(NS, "toggler", {"trigger": trigger, "enabled": enabled})
    execution = await engine.wait(execution_id, timeout=60)
    return execution.state.current, [line.message for line in engine.logs(execution_id)]


async def test_toggle_disables_then_enables_a_trigger_of_another_flow(tmp_path: Path) -> None:
    async with EmbeddedEngine(tmp_path / "home") as engine, EmbeddedScheduler(engine) as scheduler:
        engine.deploy(SCHEDULED)
        engine.deploy(TOGGLER)
        uid = f"{NS}/scheduled/yearly"

        assert (await _toggle(engine, "yearly", False))[0] == StateType.SUCCESS
        record = scheduler.store.get(uid)
        assert record is not None and record.disabled

        assert (await _toggle(engine, "yearly", True))[0] == StateType.SUCCESS
        record = scheduler.store.get(uid)
        assert record is not None and not record.disabled


async def test_toggle_of_a_trigger_the_flow_does_not_define_fails_naming_it(tmp_path: Path) -> None:
    async with EmbeddedEngine(tmp_path / "home") as engine, EmbeddedScheduler(engine) as scheduler:
        engine.deploy(SCHEDULED)
        engine.deploy(TOGGLER)
        state, logs = await _toggle(engine, "hourly", False)
        assert state == StateType.FAILED
        assert any(f"Unable to find trigger 'hourly' for the flow {NS}.scheduled" in m for m in logs), logs
        assert scheduler.store.get(f"{NS}/scheduled/hourly") is None
