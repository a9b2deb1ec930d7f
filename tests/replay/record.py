"""Record the replay corpus: run every case on the embedded engine and keep its records as written.

    .venv/bin/python -m tests.replay.record tests/replay/corpus/v<WIRE_VERSION>

writes, per case, the flows, every event in the order the executor applied it (``events.jsonl``:
each line one record exactly as the backend stored it) and every execution's last state
(``states.jsonl``). Run it when the wire format's version is bumped, into a new directory; never
re-record an existing version's corpus to make the replay test pass.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.models.state import StateType
from kestra_stream.plugins.registry import default_registry
from tests.replay.cases import CASES, Case

_DEADLINE = 60.0


async def _until(engine: EmbeddedEngine, execution_id: str, *states: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _DEADLINE
    while True:
        state = engine.state(execution_id)
        if state is not None and state.execution.state.current.value in states:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{execution_id} never reached {states}: {state and state.execution.state.current}")
        await asyncio.sleep(0.02)


async def _settled(engine: EmbeddedEngine) -> None:
    """Every execution ended (a flow retry or a subflow starts others after the first ends)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _DEADLINE
    while True:
        await asyncio.sleep(0.3)
        if not engine.store.unfinished_executions() and not engine.store.timers():
            return
        if loop.time() > deadline:
            raise TimeoutError(f"executions still running: {engine.store.unfinished_executions()}")


async def _run(case: Case, home: Path) -> None:
    async with EmbeddedEngine(home, registry=default_registry(), environ={}) as engine:
        flows = [engine.deploy(source) for source in case.flows]
        main = flows[0]
        execution_id = await engine.requests.create_execution(main.namespace, main.id, case.inputs)
        for step in case.steps:
            if step == "resume":
                await _until(engine, execution_id, "PAUSED")
                await engine.requests.resume(execution_id)
            elif step == "restart":
                await _until(engine, execution_id, "FAILED")
                await engine.requests.restart(execution_id)
            elif step == "replay":
                await _until(engine, execution_id, "SUCCESS")
                await engine.requests.replay(execution_id)
            elif step == "state":
                await _until(engine, execution_id, "FAILED")
                failed = engine.store.load_state(execution_id)
                assert failed is not None
                broken = failed.execution.taskruns_of("broken")[0]
                await engine.requests.set_taskrun_state(execution_id, broken.id, StateType.SUCCESS)
            elif step == "labels":
                await _until(engine, execution_id, "SUCCESS")
                await engine.requests.set_labels(execution_id, {"reviewed": "yes"})
        await _settled(engine)


def record(case: Case, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        asyncio.run(_run(case, home))
        db = sqlite3.connect(home / "kestra-stream.db")
        try:
            events = [body for (body,) in db.execute("SELECT body FROM events WHERE applied = 1 ORDER BY seq")]
            states = [body for (body,) in db.execute("SELECT body FROM executions ORDER BY created, id")]
        finally:
            db.close()
    target = out / case.name
    shutil.rmtree(target, ignore_errors=True)
    (target / "flows").mkdir(parents=True)
    for index, source in enumerate(case.flows):
        (target / "flows" / f"{index}.yaml").write_text(source.lstrip())
    (target / "events.jsonl").write_text("".join(f"{line}\n" for line in events))
    (target / "states.jsonl").write_text("".join(f"{line}\n" for line in states))


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    names = set(argv[1:])
    for case in CASES:
        if not names or case.name in names:
            record(case, out)
            print(f"recorded {case.name} into {out / case.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
