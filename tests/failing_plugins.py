"""Plugins that misbehave on purpose, registered by the tests of the executor's failure contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from kestra_stream.executor.flowables import FlowableContext, Resolution
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import AnyTask, FlowableTask, Task
from kestra_stream.plugins import PluginRegistry


class RaisingFlowable(FlowableTask):
    """A flowable whose ``resolve`` raises, as a buggy plugin's would."""

    plugin: ClassVar[PluginInfo] = PluginInfo(type="test.failing.RaisingFlowable", short="test.RaisingFlowable")

    tasks: list[AnyTask]

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        raise RuntimeError("the plugin broke while resolving")


RAISING_FLOW = """
id: raising
namespace: test.failing
tasks:
  - id: broken
    type: test.failing.RaisingFlowable
    tasks:
      - {id: never, type: io.kestra.plugin.core.log.Log, message: never}
errors:
  - {id: handler, type: io.kestra.plugin.core.log.Log, message: handled}
"""


def registry_with_failing_plugins() -> PluginRegistry:
    """Every installed plugin (core, scripts...) and the failing ones."""
    registry = PluginRegistry.from_entry_points()
    registry.register(RaisingFlowable)
    return registry
