"""What every script task shares: Kestra's ``AbstractExecScript`` properties, run on the Process runner."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import structlog
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import AnyTaskRunner, RunContext, RunnableTask, not_implemented
from kestra_stream.worker import upload_output_files, write_input_files
from kestra_stream_plugin_scripts._docker import DOCKER_RUNNER, ContainerRun, DockerRunner, run_container
from kestra_stream_plugin_scripts._interpreters import machine_environ
from kestra_stream_plugin_scripts._output import ScriptOutputCollector
from kestra_stream_plugin_scripts._process import run_process
from kestra_stream_plugin_scripts._warm import (
    DEFAULT_PRELOAD,
    PRELOAD_ENV,
    WarmUnavailable,
    ZygoteLost,
    run_warm,
    warm_enabled,
)

log = structlog.get_logger(__name__)

PROCESS_RUNNER = "io.kestra.plugin.core.runner.Process"
DEFAULT_INTERPRETER = ("/bin/sh", "-c")

# The variables a task runner adds to its task's expressions; the run context cannot take extra
# variables, so these plain references are replaced before rendering.
_RUNNER_VAR = re.compile(r"\{\{\s*(workingDir|outputDir)\s*\}\}")


class NamespaceFiles(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)

    enabled: bool = True
    include: list[str] | None = None
    exclude: list[str] | None = None
    namespaces: list[str] | None = None
    if_exists: Literal["OVERWRITE", "FAIL", "WARN", "IGNORE"] | None = None
    folder_per_namespace: bool | None = None


@dataclass
class Launch:
    """What a script task runs: its main commands, and environment it adds."""

    commands: list[str]
    env: dict[str, str] = field(default_factory=dict)
    before: list[str] = field(default_factory=list)
    # A Python file the commands run with ``warm_python``: the warm path may run it instead.
    warm_script: Path | None = None
    warm_python: Path | None = None
    # The modules its zygote preloads (``preload_for``), unless the task's environment names them.
    warm_preload: str = DEFAULT_PRELOAD
    # A folder of this attempt only (a private Python environment), removed when it ends.
    scratch: Path | None = None


def _stringify(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list))
                else str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


class AbstractExecScript(RunnableTask):
    """Runs commands through an interpreter in a fresh working directory of the attempt."""

    before_commands: list[str] | str | None = None
    env: dict[str, str] | None = None
    interpreter: list[str] = list(DEFAULT_INTERPRETER)
    input_files: dict[str, Any] | str | None = None
    output_files: list[str] | None = None
    namespace_files: NamespaceFiles | None = None
    warning_on_std_err: bool = True
    container_image: str | None = None
    task_runner: AnyTaskRunner | None = None
    # `targetOS` is the spelling of Kestra before 0.20, which it still accepts.
    target_os: Literal["LINUX", "WINDOWS", "AUTO"] = Field(
        default="AUTO", validation_alias=AliasChoices("targetOs", "targetOS"))
    fail_fast: bool = True
    output_directory: bool | None = None
    # Deprecated by Kestra in favour of taskRunner; still accepted.
    runner: Literal["PROCESS", "DOCKER"] | None = None
    docker: dict[str, Any] | None = None
    # Kestra's image when the Docker runner has no containerImage.
    default_container_image: ClassVar[str] = "ubuntu"
    # How a container installs what `dependencies` would (tasks that have that property).
    install_command: ClassVar[str] = "pip install ..."

    @field_validator("env", mode="before")
    @classmethod
    def _env_values(cls, value: Any) -> Any:
        # YAML gives numbers and booleans; an environment holds text.
        return _stringify(value)

    @field_validator("target_os")
    @classmethod
    def _linux_only(cls, value: str) -> str:
        if value == "WINDOWS":
            raise ValueError(not_implemented("targetOs: WINDOWS", "scripts run on this Linux worker; use AUTO or "
                                                                  "LINUX"))
        return value

    @field_validator("docker")
    @classmethod
    def _no_docker_options(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            raise ValueError(not_implemented("docker options", "set containerImage and a taskRunner of type "
                                                               f"{DOCKER_RUNNER} (which takes pullPolicy, cpu, "
                                                               "memory ...) instead of 'docker'"))
        return value

    @model_validator(mode="after")
    def _no_container_properties_on_process(self) -> AbstractExecScript:
        # Kestra runs these in a container by default; here they would run on the Process runner,
        # which has no use for an image: saying so beats running the script somewhere else.
        if self.container_image is not None and self.runs_on_process():
            where = ("taskRunner is the Process runner" if self.task_runner is not None
                     else "no taskRunner is set, and the default here is the Process runner")
            raise ValueError(f"containerImage {self.container_image!r} is only used by a container task runner, "
                             f"and {where}: remove containerImage to run with the machine's interpreter "
                             "(declare Python packages in 'dependencies'), or set taskRunner type "
                             f"{DOCKER_RUNNER} to run in that image")
        return self

    def runs_on_process(self) -> bool:
        """Whether the task runs on the Process runner: that one, or none (and not ``runner: DOCKER``)."""
        if self.task_runner is None:
            return self.runner != "DOCKER"
        info = type(self.task_runner).plugin
        names = info.names if info else (self.task_runner.type,)
        return self.task_runner.type == PROCESS_RUNNER or PROCESS_RUNNER in names

    @abstractmethod
    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        """The commands to run once the working directory holds the input files."""

    def check_runner(self) -> DockerRunner | None:
        """The Docker runner the task asks for, None for the Process runner; any other one is an error."""
        if isinstance(self.task_runner, DockerRunner):
            return self.task_runner
        if self.runner == "DOCKER" and self.task_runner is None:
            return DockerRunner.model_validate({"type": DOCKER_RUNNER})
        if self.task_runner is not None and not self.runs_on_process():
            raise TaskFailure(
                f"task runner {self.task_runner.type!r} is not available on this worker; the Process "
                f"and Docker runners are: set taskRunner type to {PROCESS_RUNNER}", task_id=self.id)
        return None

    def runner_text(self, value: Any, runner_vars: Mapping[str, str]) -> Any:
        """``value`` with ``{{ workingDir }}`` / ``{{ outputDir }}`` replaced by their paths."""
        if isinstance(value, str):
            return _RUNNER_VAR.sub(lambda m: runner_vars.get(m.group(1), m.group(0)), value)
        if isinstance(value, list):
            return [self.runner_text(v, runner_vars) for v in value]
        if isinstance(value, dict):
            return {self.runner_text(k, runner_vars): self.runner_text(v, runner_vars)
                    for k, v in value.items()}
        return value

    def render_list(self, ctx: RunContext, value: list[str] | str | None, runner_vars: Mapping[str, str],
                    what: str) -> list[str]:
        if value is None:
            return []
        rendered = ctx.render(self.runner_text(value, runner_vars))
        if isinstance(rendered, str):
            # A single expression may render to the JSON text of a list.
            try:
                parsed = json.loads(rendered)
            except ValueError:
                parsed = [rendered]
            rendered = parsed if isinstance(parsed, list) else [rendered]
        if not isinstance(rendered, list):
            raise TaskFailure(f"{what} must be a list of strings, got {type(rendered).__name__}",
                              task_id=self.id)
        return [str(item) for item in rendered]

    def _uses_output_dir(self) -> bool:
        if self.output_directory:
            return True
        text = json.dumps(self.model_dump(mode="json", exclude={"output_directory"}))
        return "outputDir" in text or "OUTPUT_DIR" in text

    async def _execute(self, args: list[str], launch: Launch | None, workdir: Path, env: dict[str, str],
                       collector: ScriptOutputCollector) -> int:
        if launch is not None and launch.warm_script is not None and launch.warm_python is not None:
            preload = None if PRELOAD_ENV in env else launch.warm_preload
            try:
                return await run_warm(launch.warm_script, cwd=workdir, env=env, on_line=collector, preload=preload,
                                      python=launch.warm_python)
            except WarmUnavailable as exc:
                log.info("python_warm_path_unavailable", task_id=self.id, reason=str(exc))
            except ZygoteLost as exc:
                raise TaskFailure(str(exc), task_id=self.id) from exc
        return await run_process(args, cwd=workdir, env=env, on_line=collector)

    async def run(self, ctx: RunContext) -> Mapping[str, Any]:
        docker = self.check_runner()
        if docker is not None and getattr(self, "dependencies", None):
            raise TaskFailure("dependencies are not installed in containers by this worker: install them with "
                              f"beforeCommands (e.g. {self.install_command}) or use an image that holds them",
                              task_id=self.id)
        if self.namespace_files is not None and self.namespace_files.enabled:
            raise TaskFailure("namespaceFiles is not supported yet on this worker: namespace files come "
                              "with the namespace files API; pass the files with inputFiles instead, or set "
                              "namespaceFiles.enabled to false", task_id=self.id)
        workdir = ctx.working_directory()
        runner_vars = {"workingDir": str(workdir)}
        output_dir: Path | None = None
        if self._uses_output_dir():
            output_dir = workdir / secrets.token_hex(8)
            output_dir.mkdir()
            runner_vars["outputDir"] = str(output_dir)

        if self.input_files is not None:
            await write_input_files(ctx, workdir, self.runner_text(self.input_files, runner_vars))
        launch = await self.launch(ctx, workdir, runner_vars)
        try:
            return await self._run_launched(ctx, launch, workdir, runner_vars, output_dir, docker)
        finally:
            if launch.scratch is not None:
                await asyncio.shield(asyncio.to_thread(shutil.rmtree, launch.scratch, True))

    async def _run_launched(self, ctx: RunContext, launch: Launch, workdir: Path, runner_vars: dict[str, str],
                            output_dir: Path | None, docker: DockerRunner | None) -> Mapping[str, Any]:
        user_before = self.render_list(ctx, self.before_commands, runner_vars, "beforeCommands")
        before = ["set -e", *user_before] if self.fail_fast else user_before
        interpreter = self.render_list(ctx, self.interpreter, runner_vars, "interpreter")
        if not interpreter:
            raise TaskFailure("interpreter must not be empty, e.g. ['/bin/sh', '-c']", task_id=self.id)
        args = [*interpreter, "\n".join([*before, *launch.before, *launch.commands])]

        task_env = {"WORKING_DIR": str(workdir)}
        if output_dir is not None:
            task_env["OUTPUT_DIR"] = str(output_dir)
        if self.env:
            rendered_env = ctx.render(self.runner_text(self.env, runner_vars))
            task_env.update({str(k): str(v) for k, v in rendered_env.items()})
        env = {**machine_environ(), **launch.env, **task_env}

        collector = ScriptOutputCollector(ctx)
        if docker is not None:
            # The container has its image's environment and the task's, never the worker's (nor
            # ``launch.env``, the worker's interpreter paths).
            exit_code = await run_container(ContainerRun(
                image=ctx.render_string(self.container_image or self.default_container_image),
                command=args, workdir=workdir, env=task_env, options=docker),
                collector, task_id=self.id)
            return await self._finish(ctx, exit_code, collector, runner_vars, workdir, output_dir)
        warm = (launch.warm_python is not None and not user_before and not launch.before
                and tuple(interpreter) == DEFAULT_INTERPRETER and warm_enabled(env, launch.warm_python))
        exit_code = await self._execute(args, launch if warm else None, workdir, env, collector)
        return await self._finish(ctx, exit_code, collector, runner_vars, workdir, output_dir)

    async def _finish(self, ctx: RunContext, exit_code: int, collector: ScriptOutputCollector,
                      runner_vars: Mapping[str, str], workdir: Path, output_dir: Path | None) -> Mapping[str, Any]:
        if exit_code != 0:
            raise TaskFailure(f"Command failed with exit code {exit_code}", task_id=self.id)

        patterns = self.render_list(ctx, self.output_files, runner_vars, "outputFiles")
        output_files = await upload_output_files(ctx, workdir, patterns, output_dir)
        if self.warning_on_std_err and collector.stderr_count > 0:
            ctx.set_warning(f"the script wrote {collector.stderr_count} line(s) to stderr and "
                            "warningOnStdErr is true")
        return {"vars": collector.vars, "exitCode": exit_code, "outputFiles": output_files}
