"""A broker outage in the middle of executions: do all of them end, and how much does the stack log?

Starts a private Kafka broker (``PrivateKafka``: its own ``--home`` and ports, never the shared
services), runs a
``KafkaStack`` (executor, worker, executions client) in this process with its log on a file,
creates ``--executions`` executions of a Log / Sleep 3 s / Log flow, stops the broker (as
``kestra-stream services down kafka`` does), waits ``--down`` seconds, starts it again, and waits
for every execution to end. Reported: the final states, task runs with more than one attempt,
and the log lines written between the stop and the last end, by logger and message.

    .venv/bin/python benchmarks/bench_outage.py --home /var/tmp/outage-broker --port 19092

The private broker reuses the shared services' Kafka distribution (a link to its ``dist``).
tests/e2e/test_kafka_outage.py pins the same scenario with the executor and worker as processes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.log import configure_logging
from kestra_stream.services import PrivateKafka

FLOW = """
id: outage
namespace: bench.outage
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: a}
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT3S}
  - {id: b, type: io.kestra.plugin.core.log.Log, message: b}
"""
MARK = "bench_outage_mark "


def _mark(text: str) -> None:
    print(MARK + text, file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace, broker: PrivateKafka) -> dict[str, int]:
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap,
                             topic_prefix=f"outage-{uuid.uuid4().hex[:8]}.", partitions=4)
    stack = KafkaStack(settings, home=Path(tempfile.mkdtemp(prefix="bench-outage-")))
    await stack.start()
    try:
        stack.deploy(FLOW)
        ids = [await stack.create_execution("bench.outage", "outage") for _ in range(args.executions)]
        await asyncio.sleep(1.5)
        _mark("down")
        await asyncio.to_thread(broker.down)
        await asyncio.sleep(args.down)
        await asyncio.to_thread(broker.up)
        deadline = time.monotonic() + args.deadline
        while time.monotonic() < deadline:
            if all((s := stack.state(i)) is not None and s.finished for i in ids):
                break
            await asyncio.sleep(1)
        _mark("ended")
        states = [stack.state(i) for i in ids]
        counts = collections.Counter(s.execution.state.current.value if s else "UNKNOWN" for s in states)
        counts["task runs attempted more than once"] = sum(
            1 for s in states if s for tr in s.execution.task_run_list if len(tr.attempts) > 1)
        return dict(counts)
    finally:
        await stack.stop()


def _lines(log: Path) -> collections.Counter[str]:
    lines = log.read_text(errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(MARK + "down"))
    end = next(i for i, line in enumerate(lines) if line.startswith(MARK + "ended"))
    counts: collections.Counter[str] = collections.Counter()
    for line in lines[start + 1:end]:
        try:
            record = json.loads(line)
            counts[f"{record.get('logger', '')}: {str(record.get('event', ''))[:70]}"] += 1
        except ValueError:
            counts[f"(stderr) {line[:60]}"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="the private broker's home (created)")
    parser.add_argument("--port", type=int, default=19092, help="its port (the controller takes the next one)")
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--down", type=float, default=30.0, help="seconds between the stop and the start")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds to wait for the ends after")
    parser.add_argument("--shared-home", type=Path, default=Path("/var/tmp/kestra-stream/services"),
                        help="the services home whose Kafka distribution the private broker runs")
    args = parser.parse_args()
    broker = PrivateKafka(args.home, args.port, args.shared_home)
    broker.up()
    log = args.home / "bench-outage.log"
    with log.open("w") as sink:
        stderr = os.dup(2)
        os.dup2(sink.fileno(), 2)  # librdkafka writes to the file descriptor, not to sys.stderr
        try:
            configure_logging("json", "WARNING")
            states = asyncio.run(_run(args, broker))
        finally:
            os.dup2(stderr, 2)
            broker.down()
    lines = _lines(log)
    print(f"executions: {states}")
    print(f"log lines from the stop to the last end: {sum(lines.values())}")
    for what, count in lines.most_common(10):
        print(f"  {count:>7}  {what}")


if __name__ == "__main__":
    main()
