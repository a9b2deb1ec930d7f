"""Which modules a warm Python script's zygote preloads: Kestra's helper only for scripts that name it."""

from __future__ import annotations

import pytest
from kestra_stream_plugin_scripts import PRELOAD_ENV, preload_for
from test_scripts_warm import Build, build, ran_warm, run, script

__all__ = ["build"]  # the fixture, shared with test_scripts_warm

# The helper imports requests: whether the script's interpreter already holds it says which zygote ran it.
HOLDS_REQUESTS = "import sys\nprint('requests' in sys.modules)\nimport os\nprint('parent', os.getppid())\n"


@pytest.mark.parametrize("source", ["from kestra import Kestra\n", "import kestra\n", "x = 1  # kestra outputs\n"])
def test_a_script_naming_kestra_gets_the_helper_preloaded(source: str) -> None:
    assert preload_for(source) == "kestra"


@pytest.mark.parametrize("source", ["print(1)\n", "import kestrals\n", "mykestra = 2\n"])
def test_a_script_not_naming_kestra_gets_nothing_preloaded(source: str) -> None:
    assert preload_for(source) == ""


async def test_a_script_without_the_helper_runs_in_a_zygote_without_it(build: Build) -> None:
    _, ctx = await run(build, script(HOLDS_REQUESTS))
    assert ctx.messages()[0] == "False" and ran_warm(ctx)


async def test_a_script_importing_the_helper_runs_in_a_zygote_holding_it(build: Build) -> None:
    _, ctx = await run(build, script("from kestra import Kestra\n" + HOLDS_REQUESTS))
    assert ctx.messages()[0] == "True" and ran_warm(ctx)


async def test_the_preload_variable_of_the_task_wins_over_the_scripts_text(build: Build) -> None:
    _, ctx = await run(build, script(HOLDS_REQUESTS, env={PRELOAD_ENV: "requests"}))
    assert ctx.messages()[0] == "True" and ran_warm(ctx)
