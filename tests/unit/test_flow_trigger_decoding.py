"""Flow triggers decode a snapshot only when some flow has a Flow trigger that could react to it."""

from __future__ import annotations

from pathlib import Path

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.triggers._flow_source import Deliver, Received
from kestra_stream.triggers._flow_triggers import FlowTriggers
from tests._waiting import until

NS = "company.team"
PLAIN = f"""
id: plain
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
LISTENER = f"""
id: listener
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: after
triggers:
  - id: after_plain
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
"""


class HandSource:
    """A ``StateSource`` the test feeds by hand."""

    redelivers = True

    def __init__(self) -> None:
        self.deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self.deliver = deliver

    async def stop(self) -> None:
        self.deliver = None

    async def caught_up(self, timeout: float) -> None:  # noqa: ASYNC109
        return None


async def test_a_snapshot_is_acknowledged_undecoded_until_a_flow_trigger_could_react_to_it(tmp_path: Path) -> None:
    decoded: list[int] = []
    acked: list[int] = []

    def received(n: int) -> Received:
        def decode() -> ExecutionState | None:
            decoded.append(n)
            return None  # as a tombstone: nothing to evaluate once decoded

        return Received(decode, ack=lambda: acked.append(n))

    async with EmbeddedEngine(tmp_path / "home") as engine:
        engine.deploy(PLAIN)
        source = HandSource()
        triggers = FlowTriggers(engine, engine.catalog, home=tmp_path / "triggers", source=source)
        async with triggers:
            assert source.deliver is not None
            source.deliver(received(1))
            await until(lambda: acked == [1], "the first snapshot acknowledged")
            assert decoded == []
            engine.deploy(LISTENER)
            source.deliver(received(2))
            await until(lambda: acked == [1, 2], "the second snapshot acknowledged")
            assert decoded == [2]
