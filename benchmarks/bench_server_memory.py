"""Memory of the whole ``server standalone --backend kafka`` process tree against executions ended (issue 13).

It starts ``kestra-stream server standalone --backend kafka`` as ``bench_server.py`` does (the shared
Kafka and Elasticsearch of ``KESTRA_STREAM_HOME``, a fresh topic and index prefix, deleted afterwards),
deploys benchmark01 and fires its webhook. Memory is read from ``/proc/<pid>/smaps_rollup`` of the
supervisor and every descendant (executor, workers, indexer, webserver), summed:

* **RSS**: resident pages, shared ones (libraries) counted in every process;
* **PSS**: each shared page divided among the processes that map it — the sum is what the tree
  really takes from the machine.

The tree is read once idle (after a warm-up and ``--settle`` seconds), then after each of ``--rounds``
rounds of ``--per-round`` executions (fired at ``--rate``, followed to their end through the search
API, then ``--settle`` seconds so that ended executions can leave the components' memory: the
executor's grace period is ``ended_grace_seconds``, 300 s by default, lowered with ``--grace``).

    .venv/bin/python benchmarks/bench_server_memory.py --rounds 4 --per-round 1000 --rate 2000/min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from _harness import Row, command_name, document, proc_table, process_cpu_seconds, process_tree, report
from bench_server import (
    NAMESPACE,
    RATE_FLOW,
    RESULTS_DIR,
    WEBHOOK_KEY,
    deploy,
    ended_of,
    execution,
    fire,
    parse_rate,
    poll_ended,
    running_server,
    send_offsets,
    warm_up,
)

from kestra_stream.models.state import StateType


@dataclass(frozen=True)
class Memory:
    """One process's resident and proportional set sizes, in KiB."""

    rss_kib: int
    pss_kib: int


def parse_smaps_rollup(text: str) -> Memory:
    """``Rss:`` and ``Pss:`` of ``/proc/<pid>/smaps_rollup`` (kB, as the kernel writes them)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0])
    if set(values) != {"Rss", "Pss"}:
        raise ValueError(f"no Rss and Pss lines in smaps_rollup: {text[:200]!r}")
    return Memory(values["Rss"], values["Pss"])


def tree_memory(root: int) -> dict[str, Memory]:
    """Each live process of ``root``'s tree by ``<command> <pid>``; one that exits while read is left out."""
    table = proc_table()
    found: dict[str, Memory] = {}
    for pid in process_tree(table, root):
        try:
            memory = parse_smaps_rollup(Path(f"/proc/{pid}/smaps_rollup").read_text())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        label = "supervisor" if pid == root else command_name(pid, table[pid].name)
        found[f"{label} {pid}"] = memory
    return found


def total(memory: dict[str, Memory]) -> Memory:
    return Memory(sum(m.rss_kib for m in memory.values()), sum(m.pss_kib for m in memory.values()))


def memory_rows(label: str, ended: int, memory: dict[str, Memory]) -> list[Row]:
    whole = total(memory)
    per_process = {name: {"rss_mib": round(m.rss_kib / 1024, 1), "pss_mib": round(m.pss_kib / 1024, 1)}
                   for name, m in memory.items()}
    detail = f"{ended} executions ended; {len(memory)} processes; PSS " + ", ".join(
        f"{name.rsplit(' ', 1)[0]} {m.pss_kib / 1024:.0f}" for name, m in memory.items())
    return [Row(f"{label} tree PSS", whole.pss_kib / 1024, "MiB", detail,
                {"executions_ended": ended, "processes": per_process}),
            Row(f"{label} tree RSS", whole.rss_kib / 1024, "MiB", "shared pages counted in every process",
                {"executions_ended": ended})]


async def one_round(session: aiohttp.ClientSession, target: Any, webhook: str, count: int, rate: float,
                    drain: float) -> tuple[int, list[str]]:
    started = datetime.now(UTC)
    calls = await fire(session, webhook, send_offsets(rate, count * 60.0 / rate))
    ids = {c.execution_id for c in calls if c.execution_id is not None}
    ended = await poll_ended(session, target, RATE_FLOW, ids, drain, started)
    failures = []
    if len(ids) < len(calls):
        failures.append(f"{len(calls) - len(ids)} webhook calls refused")
    if len(ended) < len(ids):
        failures.append(f"{len(ids) - len(ended)} executions did not end within {drain:.0f} s")
    unsuccessful = sum(1 for e in ended.values() if e.state != StateType.SUCCESS.value)
    if unsuccessful:
        failures.append(f"{unsuccessful} executions did not end in SUCCESS")
    return len(ended), failures


def component_pid(root: int, component: str) -> int | None:
    """The pid of ``server standalone``'s child that runs ``component``, or None while there is none."""
    table = proc_table()
    return next((pid for pid in process_tree(table, root)
                 if pid != root and command_name(pid, table[pid].name).endswith(f" {component}")), None)


async def restarted_executor(session: aiohttp.ClientSession, target: Any, webhook: str,
                             deadline: float) -> tuple[list[Row], list[str]]:
    """SIGKILL the executor child; once the supervisor has started a new one, time its first new execution.

    The clock starts when the new executor process is first seen (polled every 20 ms), so the figure
    is the new process's start, its tables' restore from the changelogs and the first fold — not the
    supervisor's restart backoff. The execution is created right after the kill: its event waits in the
    topic for the new executor, as a user's would. The new executor's CPU seconds up to then (imports,
    start, recovery, the folds of that execution) say how much of the figure is the machine's load.
    """
    old = component_pid(target.pid, "executor")
    if old is None:
        return [], ["no executor child to restart"]
    killed = time.monotonic()
    os.kill(old, signal.SIGKILL)
    async with session.post(webhook, json={"after_restart": True}) as answer:
        if answer.status != 200:
            return [], [f"the webhook answered {answer.status} after the executor was killed"]
        execution_id = str((await answer.json())["id"])
    new = None
    while (new is None or new == old) and time.monotonic() - killed < deadline:
        await asyncio.sleep(0.02)
        new = component_pid(target.pid, "executor")
    if new is None or new == old:
        return [], [f"the supervisor did not restart the executor within {deadline:.0f} s"]
    started = datetime.now(UTC)
    seen = time.monotonic()
    while time.monotonic() - seen < deadline:
        found = await execution(session, target, execution_id)
        if found is not None and (done := ended_of(found)) is not None:
            seconds = (done.ended - started).total_seconds()
            cpu = process_cpu_seconds(new)
            return [Row("restarted executor: first new execution ended", seconds, "s",
                        f"from the new executor process (pid {new}) to the end of {execution_id} "
                        f"({done.state}); the supervisor restarted it {seen - killed:.1f} s after the SIGKILL; "
                        f"the new executor's CPU by then {cpu:.2f} s, load {os.getloadavg()[0]:.1f}",
                        {"execution_id": execution_id, "state": done.state,
                         "restart_after_kill_seconds": round(seen - killed, 2), "executor_cpu_seconds": round(cpu, 2),
                         "load": round(os.getloadavg()[0], 1)})], []
        await asyncio.sleep(0.05)
    return [], [f"the first execution after the executor's restart did not end within {deadline:.0f} s"]


async def measure(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session, \
            running_server(args, session) as target:
        assert target.pid is not None
        await deploy(session, target, RATE_FLOW)
        webhook = target.api(f"/executions/webhook/{NAMESPACE}/{RATE_FLOW}/{WEBHOOK_KEY}")
        await warm_up(session, target, webhook, args.warmup)
        await asyncio.sleep(args.settle)
        rows = memory_rows("idle", 0, tree_memory(target.pid))
        failures: list[str] = []
        ended_total = 0
        for number in range(1, args.rounds + 1):
            ended, problems = await one_round(session, target, webhook, args.per_round, args.rate, args.drain)
            ended_total += ended
            failures += problems
            await asyncio.sleep(args.settle)
            rows += memory_rows(f"after {ended_total}", ended_total, tree_memory(target.pid))
            print(f"round {number}: {rows[-2].value:.0f} MiB PSS, {rows[-1].value:.0f} MiB RSS after "
                  f"{ended_total} executions (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        if args.restart_executor:
            restart_rows, problems = await restarted_executor(session, target, webhook, args.drain)
            rows += restart_rows
            failures += problems
        return rows, failures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of executions, memory read after each")
    parser.add_argument("--per-round", type=int, default=1000, help="benchmark01 executions per round")
    parser.add_argument("--rate", type=parse_rate, default=2000.0, help="webhook calls per minute")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="seconds between the last execution's end and each reading")
    parser.add_argument("--grace", type=float, default=None,
                        help="ended_grace_seconds of the server (KESTRA_STREAM_KAFKA_ENDED_GRACE_SECONDS)")
    parser.add_argument("--drain", type=float, default=600.0, help="seconds to wait for a round's executions")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured executions before the idle reading")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="one more argument of the server command, e.g. --server-arg=--workers --server-arg=2")
    parser.add_argument("--restart-executor", action="store_true",
                        help="after the last round, SIGKILL the executor child and time the restarted one's first "
                             "new execution")
    parser.add_argument("--keep", action="store_true", help="leave the run's topics and indices")
    parser.add_argument("--output", type=Path, help="the JSON result file (default benchmarks/results/...)")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.per_round < 1 or args.settle < 0:
        parser.error("--rounds and --per-round must be at least 1, --settle at least 0")
    # What bench_server.running_server reads: always a standalone server started here.
    args.server, args.url, args.server_pid = "standalone", None, None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.grace is not None:
        os.environ["KESTRA_STREAM_KAFKA_ENDED_GRACE_SECONDS"] = f"{args.grace:g}"  # inherited by the server
    began = time.monotonic()
    rows, failures = asyncio.run(measure(args))
    settings: dict[str, Any] = {"rounds": args.rounds, "per_round": args.per_round, "rate_per_minute": args.rate,
                                "settle_seconds": args.settle, "ended_grace_seconds": args.grace,
                                "server_args": args.server_arg, "restart_executor": args.restart_executor,
                                "seconds": round(time.monotonic() - began, 1)}
    title = "bench_server_memory (standalone --backend kafka)"
    output = args.output or RESULTS_DIR / f"bench_server_memory-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document(title, rows, settings), indent=2) + "\n")
    report(title, rows, settings, as_json=args.json)
    print(f"written to {output}", file=sys.stderr)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
