"""Follows an execution with ``execute``'s Follower on an engine whose kill never completes.

Run as a process by test_cli_execute.py: it presses Ctrl-C itself (SIGINT to its own pid) once the
execution is paused, and again once told the kill has begun. Only the second Ctrl-C can end it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from kestra_stream.cli._follow import Follower, Resumable
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.models.execution import Execution
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType

FLOW = """
id: waits
namespace: e2e.cli
tasks:
  - id: approval
    type: io.kestra.plugin.core.flow.Pause
"""


class EndlessKill(EmbeddedEngine):
    """A kill that takes as long as it takes: a broker away, a task that will not stop."""

    async def kill(self, execution_id: str) -> None:
        await asyncio.Event().wait()


class PressingView:
    def __init__(self) -> None:
        self.pressed = False

    def state(self, execution: Execution) -> None:
        if execution.state.current == StateType.PAUSED and not self.pressed:
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)

    def logs(self, entries: list[LogEntry]) -> None:
        return None

    def notice(self, text: str) -> None:
        print(text, flush=True)
        if "Ctrl-C again" in text:
            os.kill(os.getpid(), signal.SIGINT)


async def main(home: Path) -> None:
    async with EndlessKill(home) as engine:
        flow = engine.deploy(FLOW)
        follower = Follower(engine, flow, PressingView())
        execution_id = await engine.create_execution(flow.namespace, flow.id, {})
        await follower.follow(execution_id, Resumable(on_terminal=False, command="kestra-stream execution resume"))
    print("the follow ended without the second Ctrl-C", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
