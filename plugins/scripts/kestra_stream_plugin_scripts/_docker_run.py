"""``io.kestra.plugin.docker.Run``: one container from an image, its command, files in and out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import field_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import RunContext, RunnableTask
from kestra_stream.worker import upload_output_files, write_input_files
from kestra_stream_plugin_scripts._base import _stringify
from kestra_stream_plugin_scripts._docker import ContainerOptions, ContainerRun, run_container
from kestra_stream_plugin_scripts._output import ScriptOutputCollector


class Run(RunnableTask, ContainerOptions):
    """Run ``commands`` (the image's entry point's arguments) in ``containerImage`` on the worker's engine."""

    plugin = PluginInfo(
        type="io.kestra.plugin.docker.Run",
        short="docker.Run",
        title="Run a container on the engine named by the worker's KESTRA_STREAM_DOCKER_HOST.",
        examples=("containerImage: python:3.13-slim\ncommands: [python, -c, print('hi')]",),
    )

    container_image: str
    commands: list[str] | None = None
    env: dict[str, str] | None = None
    input_files: dict[str, Any] | str | None = None
    output_files: list[str] | None = None

    @field_validator("env", mode="before")
    @classmethod
    def _env_values(cls, value: Any) -> Any:
        return _stringify(value)

    async def run(self, ctx: RunContext) -> Mapping[str, Any]:
        workdir = ctx.working_directory()
        if self.input_files is not None:
            await write_input_files(ctx, workdir, self.input_files)
        commands = [str(c) for c in ctx.render(self.commands or [])]
        env = {"WORKING_DIR": str(workdir)}
        env.update({str(k): str(v) for k, v in ctx.render(self.env or {}).items()})
        collector = ScriptOutputCollector(ctx)
        options = ContainerOptions.model_validate(self.model_dump(include=set(ContainerOptions.model_fields),
                                                                   by_alias=True))
        exit_code = await run_container(ContainerRun(image=ctx.render_string(self.container_image),
                                                     command=commands, workdir=workdir, env=env, options=options),
                                        collector, task_id=self.id)
        if exit_code != 0:
            raise TaskFailure(f"the container exited with code {exit_code}", task_id=self.id)
        patterns = [str(p) for p in ctx.render(self.output_files or [])]
        output_files = await upload_output_files(ctx, workdir, patterns, None)
        return {"vars": collector.vars, "exitCode": exit_code, "outputFiles": output_files}
