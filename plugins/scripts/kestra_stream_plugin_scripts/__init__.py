"""Script tasks for kestra-stream: Python, Node.js and shell, run on the Process task runner.

Python scripts run in environments of their own (``_env``), on the machine's interpreters (``_interpreters``);
Node.js scripts on the machine's node, with npm packages from a cached folder (``_node``).

``plugins()`` is the entry point (group ``kestra_stream.plugins``) returning every plugin class.
"""

from __future__ import annotations

from kestra_stream.models.plugin import PluginModel
from kestra_stream.worker import glob_to_regex, match_output_files
from kestra_stream_plugin_scripts import _node as node
from kestra_stream_plugin_scripts import _python as python
from kestra_stream_plugin_scripts import _shell as shell
from kestra_stream_plugin_scripts._base import PROCESS_RUNNER, AbstractExecScript, Launch
from kestra_stream_plugin_scripts._docker import HOST_SETTING, VOLUMES_SETTING, DockerRunner, run_container
from kestra_stream_plugin_scripts._docker_run import Run
from kestra_stream_plugin_scripts._env import (
    CACHE_ENV,
    HELPER,
    PythonEnvironment,
    cached_environment,
    environment_key,
    requirement_set,
)
from kestra_stream_plugin_scripts._interpreters import INTERPRETERS, Interpreter, machine_environ, machine_path
from kestra_stream_plugin_scripts._node import (
    NODE_CACHE_ENV,
    NODE_HELPER,
    NodeRuntime,
    cached_node_modules,
    node_cache_root,
    node_environment_key,
    node_runtime,
    package_set,
)
from kestra_stream_plugin_scripts._output import PROTOCOL_LINE, ScriptOutputCollector
from kestra_stream_plugin_scripts._process import group_members, run_process
from kestra_stream_plugin_scripts._warm import (
    POOL as WARM_POOL,
)
from kestra_stream_plugin_scripts._warm import (
    PRELOAD_ENV,
    WARM_ENV,
    WarmPool,
    WarmUnavailable,
    ZygoteLost,
    preload_for,
    run_warm,
    startup_key,
    warm_enabled,
)


def plugins() -> list[type[PluginModel]]:
    return [python.Script, python.Commands, node.Script, node.Commands, shell.Script, shell.Commands, DockerRunner, Run]


__all__ = [
    "CACHE_ENV",
    "HELPER",
    "HOST_SETTING",
    "INTERPRETERS",
    "NODE_CACHE_ENV",
    "NODE_HELPER",
    "PRELOAD_ENV",
    "PROCESS_RUNNER",
    "PROTOCOL_LINE",
    "VOLUMES_SETTING",
    "WARM_ENV",
    "WARM_POOL",
    "AbstractExecScript",
    "DockerRunner",
    "Interpreter",
    "Launch",
    "NodeRuntime",
    "PythonEnvironment",
    "Run",
    "ScriptOutputCollector",
    "WarmPool",
    "WarmUnavailable",
    "ZygoteLost",
    "cached_environment",
    "cached_node_modules",
    "environment_key",
    "glob_to_regex",
    "group_members",
    "machine_environ",
    "machine_path",
    "match_output_files",
    "node",
    "node_cache_root",
    "node_environment_key",
    "node_runtime",
    "package_set",
    "plugins",
    "preload_for",
    "python",
    "requirement_set",
    "run_container",
    "run_process",
    "run_warm",
    "shell",
    "startup_key",
    "warm_enabled",
]
