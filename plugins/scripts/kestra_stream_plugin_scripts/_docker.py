"""Containers through a real engine: Kestra's Docker task runner, spoken through the Docker Engine API.

The engine is the worker's: ``KESTRA_STREAM_DOCKER_HOST`` names it (``unix:///...sock`` of Docker, or
of Podman's compatible service that ``kestra-stream services up podman`` starts), unless the runner
names a ``host`` itself. The attempt's working directory is bind-mounted at the same path inside the
container (Kestra's VOLUME file handling), so input files are there when it starts and output files
are found where the script wrote them. Whatever way the run ends, the container is killed and removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import TaskRunner, not_implemented

log = structlog.get_logger(__name__)

DOCKER_RUNNER = "io.kestra.plugin.scripts.runner.docker.Docker"
HOST_SETTING = "KESTRA_STREAM_DOCKER_HOST"
VOLUMES_SETTING = "KESTRA_STREAM_DOCKER_VOLUMES_ENABLED"

PullPolicy = Literal["IF_NOT_PRESENT", "ALWAYS", "NEVER"]
LineHandler = Callable[[str, bool], None]

# The Docker SDK blocks: each container holds threads for its two output streams and its wait for as
# long as it runs, which would starve the loop's small default executor (6 threads on 2 cores).
_THREADS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="containers")


class _Sub(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True,
                              validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)


def engine_host(runner_host: str | None = None, environ: Mapping[str, str] | None = None, *,
                task_id: str | None = None) -> str:
    """The engine a container task runs on, or a TaskFailure naming the setting that chooses it."""
    env = os.environ if environ is None else environ
    host = runner_host or env.get(HOST_SETTING)
    if not host:
        raise TaskFailure(f"this worker has no container engine: set {HOST_SETTING} in the worker's environment "
                          "to a Docker Engine API address (e.g. unix:///var/run/docker.sock, or the Podman "
                          "socket `kestra-stream services up podman` prints), or run the task with the Process "
                          "runner", task_id=task_id)
    return host


def volumes_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(VOLUMES_SETTING, "").lower() in ("1", "true", "yes")


class Cpu(_Sub):
    cpus: float | None = Field(default=None, gt=0)


class Memory(_Sub):
    memory: str | None = None
    memory_swap: str | None = None
    memory_reservation: str | None = None

    @field_validator("memory_swap", "memory_reservation")
    @classmethod
    def _refused(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(not_implemented("memorySwap and memoryReservation", "set memory.memory only"))
        return value


class ContainerOptions(_Sub):
    """What Kestra's Docker runner and ``docker.Run`` share, as far as this worker implements it."""

    host: str | None = None
    pull_policy: PullPolicy = "IF_NOT_PRESENT"
    cpu: Cpu | None = None
    memory: Memory | None = None
    volumes: list[str] | None = None
    user: str | None = None
    entry_point: list[str] | None = None
    network_mode: str | None = None
    delete: bool = True

    @model_validator(mode="before")
    @classmethod
    def _refuse_unimplemented(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            found = sorted(set(data) & set(_REFUSED))
            if found:
                raise ValueError(not_implemented(
                    ", ".join(found), "remove them; implemented here: host, pullPolicy, cpu.cpus, memory.memory, "
                                      "volumes, user, entryPoint, networkMode, delete"))
        return data

    @field_validator("volumes")
    @classmethod
    def _volumes_allowed(cls, value: list[str] | None) -> list[str] | None:
        # Kestra's rule: a flow mounts folders of the worker's machine only where its administrator allows it.
        if value and not volumes_enabled():
            raise ValueError(f"volumes are disabled on this worker: its administrator enables them with "
                             f"{VOLUMES_SETTING}=true; pass files with inputFiles instead")
        for volume in value or []:
            if ":" not in volume:
                raise ValueError(f"volume {volume!r} must read host_path:container_path[:ro]")
        return value


# Kestra's properties that this worker does not implement: refused at validation rather than ignored.
_REFUSED = ("config", "credentials", "privileged", "shmSize", "extraHosts", "portBindings", "deviceRequests",
            "fileHandlingStrategy", "resume", "wait", "killGracePeriod", "version")


class DockerRunner(TaskRunner, ContainerOptions):
    """Kestra's Docker task runner: the task's commands run in ``containerImage`` on the worker's engine."""

    plugin = PluginInfo(
        type=DOCKER_RUNNER,
        short="runner.Docker",
        title="Run script tasks in a container, on the engine named by the worker's KESTRA_STREAM_DOCKER_HOST.",
    )


@dataclass
class ContainerRun:
    """One container to run to its end."""

    image: str
    command: list[str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    options: ContainerOptions = field(default_factory=ContainerOptions)


def _bytes(size: str) -> int:
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = size.strip().lower().removesuffix("b") or "0"
    unit = text[-1] if text[-1] in units else "b"
    try:
        return int(float(text.rstrip("kmg")) * units[unit])
    except ValueError:
        raise TaskFailure(f"memory {size!r} is not a size: write e.g. 512m or 1g") from None


def _ensure_image(client: Any, image: str, policy: PullPolicy) -> None:
    import docker

    if policy != "ALWAYS":
        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            if policy == "NEVER":
                raise TaskFailure(f"image {image!r} is not on the worker's engine and pullPolicy is NEVER") from None
    # A pull answers 200 and reports its failure inside the stream of progress events (Docker and Podman).
    repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    try:
        for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if isinstance(event, dict) and event.get("error"):
                raise TaskFailure(f"could not pull image {image!r} ({policy}): {event['error']}")
    except docker.errors.APIError as exc:
        raise TaskFailure(f"could not pull image {image!r} ({policy}): {exc.explanation or exc}") from None


def _create(client: Any, run: ContainerRun) -> Any:
    options = run.options
    binds = [f"{run.workdir}:{run.workdir}", *(options.volumes or [])]
    kwargs: dict[str, Any] = {
        "command": run.command, "working_dir": str(run.workdir), "environment": run.env,
        "volumes": binds, "detach": True, "labels": {"io.kestra-stream.task": "true"},
    }
    if options.entry_point is not None:
        kwargs["entrypoint"] = options.entry_point
    if options.user:
        kwargs["user"] = options.user
    if options.network_mode:
        kwargs["network_mode"] = options.network_mode
    if options.cpu and options.cpu.cpus:
        kwargs["nano_cpus"] = int(options.cpu.cpus * 1e9)
    if options.memory and options.memory.memory:
        kwargs["mem_limit"] = _bytes(options.memory.memory)
    return client.containers.create(run.image, **kwargs)


def _pump(container: Any, is_stderr: bool, deliver: Callable[[str, bool], None]) -> None:
    pending = b""
    for chunk in container.logs(stream=True, follow=True, stdout=not is_stderr, stderr=is_stderr):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            deliver(raw.removesuffix(b"\r").decode("utf-8", errors="replace"), is_stderr)
    if pending:
        deliver(pending.removesuffix(b"\r").decode("utf-8", errors="replace"), is_stderr)


def _end(container: Any, delete: bool) -> None:
    import docker

    with contextlib.suppress(docker.errors.APIError):
        container.reload()
        if container.status == "running":
            container.kill()
    if delete:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


async def run_container(run: ContainerRun, on_line: LineHandler, *, task_id: str | None = None) -> int:
    """Run ``run`` on the worker's engine, stream its output to ``on_line``, return its exit code.

    A cancellation (the task killed, or its timeout) kills the container before it goes on.
    """
    import docker

    host = engine_host(run.options.host, task_id=task_id)
    loop = asyncio.get_running_loop()

    def deliver(line: str, is_stderr: bool) -> None:
        loop.call_soon_threadsafe(on_line, line, is_stderr)

    try:
        client = docker.DockerClient(base_url=host)
    except docker.errors.DockerException as exc:
        raise TaskFailure(f"cannot reach the container engine at {host} ({HOST_SETTING}): {exc}",
                          task_id=task_id) from None
    def blocking(function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return loop.run_in_executor(_THREADS, function, *args)

    container: Any = None
    try:
        await blocking(_ensure_image, client, run.image, run.options.pull_policy)
        container = await blocking(_create, client, run)
        log.info("container_created", task_id=task_id, container=container.id[:12], image=run.image)
        await blocking(container.start)
        await asyncio.gather(blocking(_pump, container, False, deliver), blocking(_pump, container, True, deliver))
        result = await blocking(container.wait)
        return int(result["StatusCode"])
    except docker.errors.APIError as exc:
        raise TaskFailure(f"the container engine at {host} refused the container: {exc.explanation or exc}",
                          task_id=task_id) from None
    finally:
        if container is not None:
            await asyncio.shield(blocking(_end, container, run.options.delete))
            log.info("container_ended", task_id=task_id, container=container.id[:12])
        await asyncio.shield(blocking(client.close))
