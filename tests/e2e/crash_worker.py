"""The process the crash test kills: an embedded engine running the ``crash`` flow.

    python crash_worker.py HOME create|resume --count N --sidefile PATH [--deadline SECONDS]

``create`` deploys the flow, creates N executions (``n`` = 0..N-1) and runs them; ``resume`` creates
none and only carries on with what the home holds. Either way the process then waits until the store
holds at least N executions, all finished, printing one line per poll on stdout:

    created <n> <execution id>
    progress total=<executions in the store> finished=<finished ones> jobs=<worker jobs pending>
    done | gave up

It exits 0 on ``done`` and 1 on ``gave up`` (the deadline passed). Engine logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.log import configure_logging

FLOW = Path(__file__).parent / "flows" / "crash.yaml"
NAMESPACE, FLOW_ID = "e2e.crash", "crash"
DB_NAME = "kestra-stream.db"
POLL_SECONDS = 0.05


def store_counts(home: Path) -> tuple[int, int, int]:
    """Executions, finished executions and pending worker jobs, read from the engine's SQLite file.

    A second connection, as any reader of the file would use; WAL lets it read while the engine writes.
    """
    with closing(sqlite3.connect(home / DB_NAME)) as db:
        total, finished = db.execute("SELECT count(*), coalesce(sum(finished), 0) FROM executions").fetchone()
        (jobs,) = db.execute("SELECT count(*) FROM jobs").fetchone()
    return int(total), int(finished), int(jobs)


async def run(home: Path, mode: str, count: int, sidefile: Path, deadline: float) -> int:
    async with EmbeddedEngine(home) as engine:
        engine.deploy(FLOW.read_text(), file=str(FLOW))
        if mode == "create":
            for n in range(count):
                execution_id = await engine.create_execution(NAMESPACE, FLOW_ID,
                                                             {"n": n, "sidefile": str(sidefile)})
                print(f"created {n} {execution_id}", flush=True)
        ends_at = time.monotonic() + deadline
        while True:
            total, finished, jobs = store_counts(home)
            print(f"progress total={total} finished={finished} jobs={jobs}", flush=True)
            if total >= count and finished == total:
                print("done", flush=True)
                return 0
            if time.monotonic() > ends_at:
                print("gave up", flush=True)
                return 1
            await asyncio.sleep(POLL_SECONDS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("home", type=Path)
    parser.add_argument("mode", choices=["create", "resume"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--sidefile", type=Path, required=True)
    parser.add_argument("--deadline", type=float, default=30.0)
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")
    return asyncio.run(run(args.home, args.mode, args.count, args.sidefile, args.deadline))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
