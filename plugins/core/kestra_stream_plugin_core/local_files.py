"""``storage.LocalFiles``: files into and out of the task's working directory (a WorkingDirectory's when in one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask
from kestra_stream.worker import upload_output_files, write_input_files


class LocalFiles(RunnableTask):
    """Write files into the working directory and upload files from it (``outputs.<id>.uris``)."""

    plugin: ClassVar[PluginInfo] = PluginInfo(
        type="io.kestra.plugin.core.storage.LocalFiles",
        short="storage.LocalFiles",
        aliases=("io.kestra.core.tasks.storages.LocalFiles",),
        title="Write files into the working directory and upload files from it.",
        examples=(
            """\
id: local_files
namespace: company.team
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: write
        type: io.kestra.plugin.core.storage.LocalFiles
        inputs:
          out/hello.txt: "Hello {{ flow.id }}"
      - id: upload
        type: io.kestra.plugin.core.storage.LocalFiles
        outputs:
          - out/*
""",
        ),
    )

    inputs: dict[str, Any] | str | None = Field(
        default=None, description="Files to create: a map of file name to content or kestra:// URI, rendered.")
    outputs: list[str] | None = Field(
        default=None, description="Globs of files to upload to internal storage; `uris` maps names to URIs.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        workdir = ctx.working_directory()
        if self.inputs is not None:
            await write_input_files(ctx, workdir, self.inputs)
        patterns = ctx.render(self.outputs or [])
        if not isinstance(patterns, list):
            raise TaskFailure(f"outputs must be a list of globs, got {type(patterns).__name__}", task_id=self.id)
        return {"uris": await upload_output_files(ctx, workdir, [str(p) for p in patterns], None)}


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (LocalFiles,)
