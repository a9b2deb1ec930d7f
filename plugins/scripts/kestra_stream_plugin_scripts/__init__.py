"""Script tasks for kestra-stream: Python and shell, run on the Process task runner.

``plugins()`` is the entry point (group ``kestra_stream.plugins``) returning every plugin class.
"""

from __future__ import annotations

from kestra_stream.models.plugin import PluginModel
from kestra_stream.worker import glob_to_regex, match_output_files
from kestra_stream_plugin_scripts import _python as python
from kestra_stream_plugin_scripts import _shell as shell
from kestra_stream_plugin_scripts._base import PROCESS_RUNNER, AbstractExecScript, DockerRunner, Launch
from kestra_stream_plugin_scripts._deps import ensure_dependencies, requirements_key
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
    return [python.Script, python.Commands, shell.Script, shell.Commands, DockerRunner]


__all__ = [
    "PRELOAD_ENV",
    "PROCESS_RUNNER",
    "PROTOCOL_LINE",
    "WARM_ENV",
    "WARM_POOL",
    "AbstractExecScript",
    "DockerRunner",
    "Launch",
    "ScriptOutputCollector",
    "WarmPool",
    "WarmUnavailable",
    "ZygoteLost",
    "ensure_dependencies",
    "glob_to_regex",
    "group_members",
    "match_output_files",
    "plugins",
    "preload_for",
    "python",
    "requirements_key",
    "run_process",
    "run_warm",
    "shell",
    "startup_key",
    "warm_enabled",
]
