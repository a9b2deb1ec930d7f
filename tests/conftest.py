"""Test-wide settings: the Hypothesis profile, plugins discovered before any test, the Python environment cache."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, settings

from kestra_stream.plugins import default_registry

# CI runs the same examples every time (a failure there is reproducible, never a lucky draw);
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

# Plugins are discovered on first use, which imports libraries that touch the global `random` at
# import time (rich does); inside a Hypothesis strategy that is reported as a flaky strategy.
default_registry()


@pytest.fixture(scope="session", autouse=True)
def python_env_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Python script tasks' environment cache for this session, the base environment (Kestra's helper
    on the machine's interpreter) built once here: tests then see the warm state, and a task's own
    logs are not preceded by a build. Set in os.environ, so worker processes started by tests share it."""
    from kestra_stream_plugin_scripts import CACHE_ENV, INTERPRETERS, cached_environment, machine_path

    cache = tmp_path_factory.mktemp("python-envs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(cache))
        interpreter = INTERPRETERS.default(machine_path(os.environ.get("PATH", os.defpath)))
        asyncio.run(cached_environment(lambda level, message: None, interpreter, []))
        yield cache


@pytest.fixture(scope="session")
def node_env_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Node.js script tasks' npm folder cache for this session, the helper's folder (``@kestra-io/libs``
    from the npm registry) installed once here. Node.js is on every machine the suite runs on: a machine
    without it fails these tests under CI=true, and skips them elsewhere."""
    import shutil

    from kestra_stream_plugin_scripts import NODE_CACHE_ENV, cached_node_modules, node_runtime

    if shutil.which("node") is None or shutil.which("npm") is None:
        message = "Node.js (node and npm) is not installed on this machine"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    cache = tmp_path_factory.mktemp("node-envs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(NODE_CACHE_ENV, str(cache))
        asyncio.run(cached_node_modules(lambda level, message: None, node_runtime(), []))
        yield cache


@pytest.fixture(autouse=True)
def structlog_defaults() -> Iterator[None]:
    """Each test starts from structlog's defaults. A test that runs a command in-process configures
    logging for the whole interpreter, caching each logger on its first use: a later test's
    ``capture_logs`` would then miss every line of a logger first used after that (an order-dependent
    failure of the supervisor's tests in a full run)."""
    yield
    structlog.reset_defaults()
