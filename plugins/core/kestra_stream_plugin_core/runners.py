"""``runner.Process``: run script tasks as local processes of the worker's machine."""

from __future__ import annotations

from typing import ClassVar

from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import TaskRunner


class Process(TaskRunner):
    """Run a script task as a process on the worker's own machine."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.runner.Process",
        short="runner.Process",
        title="Run a script task as a process on the worker's own machine.",
        examples=(
            """\
id: local_script
namespace: company.team
tasks:
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "hello from $(hostname)"
""",
        ),
    )


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Process,)
