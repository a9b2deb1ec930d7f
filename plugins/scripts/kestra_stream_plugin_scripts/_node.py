"""Node.js script tasks: ``io.kestra.plugin.scripts.node.Script`` and ``...node.Commands``.

They run the machine's ``node`` (the first on the worker's ``PATH``, the orchestrator's virtual
environment taken out). Packages come from a folder of npm modules cached per (Node.js version,
package set) under ``KESTRA_STREAM_NODE_ENV_CACHE`` (default ``~/.cache/kestra-stream/node-envs``),
installed once with ``npm install`` and shared through ``_cache.build_once``: the same lock, staging
folder and atomic rename as the Python environments. Every folder holds Kestra's JavaScript helper
(``@kestra-io/libs``, so ``require('@kestra-io/libs')`` works without installing it) and the task's
``dependencies``; ``require`` finds them through ``NODE_PATH``, their command-line tools are first on
``PATH``; ``import`` finds them through a resolve hook (``_node_register.mjs``), loaded only for tasks
whose code mentions ``import`` or ``.mjs``: it costs a thread and some 90 ms of CPU at every node start.
``npm install`` in ``beforeCommands`` (Kestra's documented way) still installs into the working
directory, whose ``node_modules`` come first.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo
from kestra_stream.models.task import LogLevel, RunContext
from kestra_stream_plugin_scripts._base import AbstractExecScript, Launch
from kestra_stream_plugin_scripts._cache import TaskLog, Tool, build_once
from kestra_stream_plugin_scripts._interpreters import machine_environ, machine_path

NODE_CACHE_ENV = "KESTRA_STREAM_NODE_ENV_CACHE"
NODE_HELPER = "@kestra-io/libs"
"""Kestra's JavaScript helper (``Kestra.outputs``, ``counter``, ``timer`` ...), in every module folder."""
# npm's own chatter (audit, funding, update notices) is noise in a task's logs and asks the registry more.
_NPM_QUIET = ("--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error")
_ESM_HOOK = Path(__file__).with_name("_node_register.mjs")
_MENTIONS_ESM = re.compile(r"\bimport\b|\.mjs\b")


@dataclass(frozen=True)
class NodeRuntime:
    """The machine's ``node`` and ``npm``."""

    node: Path
    npm: Path
    version: str


@functools.lru_cache(maxsize=8)
def _runtime(path: str) -> NodeRuntime:
    node = shutil.which("node", path=path)
    npm = shutil.which("npm", path=path)
    if node is None or npm is None:
        missing = "node" if node is None else "npm"
        raise TaskFailure(f"{missing} is not on this worker's PATH ({path}): install Node.js (with npm) on the "
                          "worker's machine, or run the task in a container (taskRunner type "
                          "io.kestra.plugin.scripts.runner.docker.Docker)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return NodeRuntime(Path(node), Path(npm), version.removeprefix("v"))


def node_runtime() -> NodeRuntime:
    """The machine's Node.js; a TaskFailure naming the fix when it is not installed."""
    return _runtime(machine_path(os.environ.get("PATH", os.defpath)))


def node_cache_root() -> Path:
    configured = os.environ.get(NODE_CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "kestra-stream" / "node-envs"


def package_set(packages: Sequence[str]) -> list[str]:
    """What a module folder holds: the helper plus the task's packages; order and repeats do not matter."""
    return sorted({NODE_HELPER, *packages})


def node_environment_key(runtime: NodeRuntime, packages: Sequence[str]) -> str:
    """The cache folder's name for ``packages`` on ``runtime``."""
    ident = {"node": [str(runtime.node), runtime.version], "packages": package_set(packages)}
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


async def _npm_install(log: TaskLog, runtime: NodeRuntime, target: Path, packages: Sequence[str]) -> None:
    await asyncio.to_thread(target.mkdir, parents=True)
    # A package.json of its own: npm installs here rather than in a project found above the folder.
    await asyncio.to_thread((target / "package.json").write_text,
                            json.dumps({"name": "kestra-stream-node-env", "private": True}), encoding="utf-8")
    env = machine_environ()
    env["PATH"] = os.pathsep.join([str(runtime.node.parent), env.get("PATH", os.defpath)])
    await Tool(log, env, "npm").run([str(runtime.npm), "install", *_NPM_QUIET, *packages], cwd=target,
                                    what=f"install the dependencies {list(packages)}",
                                    fix="fix the package names or versions, or the worker's npm registry setting")


async def cached_node_modules(log: TaskLog, runtime: NodeRuntime, packages: Sequence[str],
                              root: Path | None = None) -> Path:
    """The cached folder (holding ``node_modules``) for ``packages``, installed first if no complete one exists."""
    root = root or node_cache_root()
    wanted = package_set(packages)
    key = node_environment_key(runtime, packages)
    target = root / key
    described = f"{wanted} on Node.js {runtime.version}"

    def reused() -> None:
        if packages:  # the helper's folder is every plain script's: no line for each of them
            log(LogLevel.DEBUG, f"npm packages {described} reused from cache {target}")

    async def build(staging: Path) -> None:
        await _npm_install(log, runtime, staging, wanted)

    return await build_once(root, key, build, reused,
                            lambda: log(LogLevel.INFO, f"Installing the npm packages {described} in {target}"))


class _NodeExec(AbstractExecScript):
    default_container_image: ClassVar[str] = "node"
    install_command: ClassVar[str] = "npm install ..."

    # Not one of Kestra's node properties (there, `npm install` goes in beforeCommands, which works here
    # too); the Python tasks' `dependencies`, for npm: installed once per set and cached.
    dependencies: list[str] | None = None
    dependency_cache_enabled: bool = True

    async def environment(self, ctx: RunContext) -> tuple[dict[str, str], Path | None]:
        """The variables that make the task's packages visible, and a scratch folder to remove after the attempt."""
        if not self.runs_on_process():
            return {}, None  # the image's node and packages
        runtime = await asyncio.to_thread(node_runtime)
        packages = [str(p) for p in ctx.render(list(self.dependencies))] if self.dependencies else []
        scratch: Path | None = None
        if self.dependency_cache_enabled:
            folder = await cached_node_modules(ctx.log, runtime, packages)
        else:
            scratch = Path(tempfile.mkdtemp(prefix="kestra-stream-node-"))
            ctx.log(LogLevel.INFO, f"Installing the npm packages {package_set(packages)} for this attempt only "
                                   "(dependencyCacheEnabled is false)")
            try:
                await _npm_install(ctx.log, runtime, scratch / "env", package_set(packages))
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, scratch, True)
                raise
            folder = scratch / "env"
        modules = folder / "node_modules"
        path = machine_path(os.environ.get("PATH", os.defpath))
        env = {"NODE_PATH": str(modules), "KESTRA_STREAM_NODE_PACKAGES": str(folder),
               "PATH": os.pathsep.join([str(modules / ".bin"), str(runtime.node.parent), path])}
        if self._mentions_esm():
            worker_options = os.environ.get("NODE_OPTIONS", "")
            env["NODE_OPTIONS"] = f"{worker_options} --import={_ESM_HOOK.as_uri()}".strip()
        return env, scratch

    def _mentions_esm(self) -> bool:
        code = json.dumps([getattr(self, "script", None), getattr(self, "commands", None), self.before_commands,
                           self.input_files])
        return bool(_MENTIONS_ESM.search(code))


class Script(_NodeExec):
    """Run a Node.js script, written to a ``.js`` file of the working directory."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.node.Script",
        short="node.Script",
        title="Run a Node.js script on the machine's node (Process task runner).",
        examples=("script: |\n  const Kestra = require('@kestra-io/libs');\n  Kestra.outputs({n: 1});",),
    )

    script: str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        source = ctx.render_string(self.runner_text(self.script, runner_vars))
        fd, name = tempfile.mkstemp(suffix=".js", dir=workdir)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(source)
        env, scratch = await self.environment(ctx)
        return Launch(commands=[f"node {shlex.quote(name)}"], env=env, scratch=scratch)


class Commands(_NodeExec):
    """Run shell commands with the machine's node (``node main.js``)."""

    plugin = PluginInfo(
        type="io.kestra.plugin.scripts.node.Commands",
        short="node.Commands",
        title="Run commands that call Node.js scripts (Process task runner).",
        examples=("inputFiles:\n  main.js: console.log('hi')\ncommands:\n  - node main.js",),
    )

    commands: list[str] | str

    async def launch(self, ctx: RunContext, workdir: Path, runner_vars: Mapping[str, str]) -> Launch:
        commands = self.render_list(ctx, self.commands, runner_vars, "commands")
        env, scratch = await self.environment(ctx)
        return Launch(commands=commands, env=env, scratch=scratch)
