"""``flow.WorkingDirectory``: run tasks one after another in one working directory.

The executor runs the children as a sequence (errors / finally as any flowable); the worker carries
the directory from one child to the next (see ``kestra_stream.worker._shared``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, model_validator

from kestra_stream.executor.flowables import FlowableContext, Resolution
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import AnyTask, DirectoryCache, RunnableTask, Task, WorkingDirectoryTask


class WorkingDirectory(WorkingDirectoryTask):
    """Run tasks one after another in one working directory, seeded with input and namespace files."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.flow.WorkingDirectory",
        short="flow.WorkingDirectory",
        aliases=("io.kestra.core.tasks.flows.WorkingDirectory",),
        title="Run tasks one after another in one working directory, seeded with input and namespace files.",
        examples=(
            """\
id: working_directory
namespace: company.team
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    inputFiles:
      data.csv: "a,b\\n1,2\\n"
    outputFiles:
      - report.txt
    tasks:
      - id: write
        type: io.kestra.plugin.core.storage.LocalFiles
        inputs:
          report.txt: "rows counted"
      - id: collect
        type: io.kestra.plugin.core.storage.LocalFiles
        outputs:
          - "*.csv"
""",
        ),
    )

    tasks: list[AnyTask] = Field(min_length=1, description="The tasks run in order, in the same directory.")
    input_files: dict[str, Any] | str | None = Field(
        default=None, description="Files written in the directory before the first task: a map of file name "
                                  "to content or kestra:// URI (or an expression giving one).")
    output_files: list[str] | None = Field(
        default=None, description="Globs of files uploaded to internal storage after each task; "
                                  "`outputs.<id>.outputFiles` maps their names to their URIs.")
    cache: DirectoryCache | None = Field(
        default=None, description="Files kept for the next executions: those matching `patterns` are archived in "
                                  "internal storage (per flow, task and task-run value) when a task changed them, "
                                  "and restored before the first task while younger than `ttl`.")

    @model_validator(mode="after")
    def _runnable_children(self) -> WorkingDirectory:
        # Only a worker's tasks run in a directory: a flowable or a pause has none to share.
        others = [f"'{t.id}' ({t.type})" for t in self.tasks if not isinstance(t, RunnableTask)]
        if others:
            raise ValueError(f"Only runnable tasks are allowed as children of a WorkingDirectory task; "
                             f"'{self.id}' has {', '.join(others)}: move them out of it")
        return self

    def branches(self) -> Mapping[str, list[Task]]:
        return {"tasks": list(self.tasks)}

    def resolve(self, ctx: FlowableContext) -> Resolution:
        return ctx.sequence(self.tasks)


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (WorkingDirectory,)
