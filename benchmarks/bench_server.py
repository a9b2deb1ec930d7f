"""The benchmark of record (issue 14): a real server process driven over HTTP, as a user runs it.

It starts ``kestra-stream server local`` or ``server standalone --backend kafka`` (Kafka and
Elasticsearch being the shared local services of ``KESTRA_STREAM_HOME``; each run has its own topic
prefix and index prefix, deleted afterwards), or is pointed at a running server with ``--url``.
Everything is reached over loopback HTTP, as a client would:

* **rate** — benchmark01 (Kestra's Webhook → OutputValues → Log) deployed through the API, then its
  webhook fired at a fixed offered rate for ``--duration`` seconds by an open-loop scheduler: call
  *i* is sent at ``first + i x 60/rate`` whether or not earlier calls answered, so a slow server
  shows as latency, not as a lower offered rate. Then the executions are polled through the search
  API until every accepted one ended or ``--drain`` seconds passed. Reported: offered and completed
  per minute, p50/p95/p99 of creation → end from each execution's state history, how many did not
  end (or not in SUCCESS), the scheduler's own lateness, and the CPU seconds of every process during
  the run — the server and each of its children, and with ``standalone`` the Kafka broker and
  Elasticsearch (found by the services' pid files) — from ``/proc/<pid>/stat`` before and after.
* **flows** (``--flow NAME``, e.g. ``sequential_40_logs``, ``python_40_fibo10``, ``python_foreach_fibo10`` — the last
  is the issue's own shape of Windmill's benchmark: a ForEach over ``range(0, 39)``, one at a time) — one execution
  at a time, ``--runs`` times, each created with ``?wait=true``; p50 of creation → end from the
  state history, and of the HTTP call's wall time.

The JSON document is written under ``benchmarks/results/`` and a table is printed.

    .venv/bin/python benchmarks/bench_server.py --server local --rate 1000/min --duration 20
    .venv/bin/python benchmarks/bench_server.py --server standalone --rate 4000/min --duration 60
    .venv/bin/python benchmarks/bench_server.py --server standalone --server-arg=--in-process --rate 1000/min
    .venv/bin/python benchmarks/bench_server.py --server standalone --flow sequential_40_logs --runs 10
    .venv/bin/python benchmarks/bench_server.py --url http://127.0.0.1:8080 --server-pid 1234 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from _harness import ProcStat, Row, cpu_used, document, flow_source, median, percentile, proc_table, report

from kestra_stream.models.state import StateType
from kestra_stream.services import ServicesSettings
from kestra_stream.services import status as services_status

NAMESPACE = "benchmarks"
RATE_FLOW = "benchmark01"
WEBHOOK_KEY = "benchmark"
SERVERS = ("local", "standalone")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TERMINATED = [state.value for state in StateType if state.is_terminated]
READY_TIMEOUT = 240.0  # a cold server on a loaded 2-core machine: imports, consumer groups, ES templates
FIRST_CALL_TIMEOUT = 180.0
STOP_GRACE_SECONDS = 30.0
SEARCH_PAGE = 1000
SEARCH_WINDOW = 10_000  # the search API's deepest result, from + size
POLL_SECONDS = 1.0


# ----- pure: the schedule and the report ----------------------------------------------------------
def parse_rate(text: str) -> float:
    """``1000``, ``1000/min`` → calls per minute."""
    number = text.strip().removesuffix("/min").strip()
    try:
        rate = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rate {text!r} is not a number of calls per minute, e.g. 1000/min") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"rate {text!r} must be above 0 per minute")
    return rate


def send_offsets(rate_per_minute: float, seconds: float) -> list[float]:
    """When each call is due, in seconds after the first: ``rate x seconds / 60`` calls evenly spaced."""
    if rate_per_minute <= 0 or seconds <= 0:
        raise ValueError(f"a rate of {rate_per_minute}/min for {seconds} s offers nothing: both must be above 0")
    interval = 60.0 / rate_per_minute
    return [i * interval for i in range(max(1, round(rate_per_minute * seconds / 60)))]


@dataclass(frozen=True)
class Call:
    """One webhook call: when it was due, sent and answered (``perf_counter`` seconds), and its answer."""

    due: float
    sent: float
    answered: float
    status: int  # 0: no HTTP answer (connection error)
    execution_id: str | None


@dataclass(frozen=True)
class Ended:
    """An ended execution as the search API returns it: its final state and its history's two ends."""

    id: str
    state: str
    created: datetime
    ended: datetime

    @property
    def seconds(self) -> float:
        return (self.ended - self.created).total_seconds()


def ended_of(execution: dict[str, Any]) -> Ended | None:
    """The execution's creation → end from its state history (dates stamped by the server), or None if running."""
    state = execution["state"]
    if not StateType(state["current"]).is_terminated:
        return None
    histories = state["histories"]
    return Ended(id=execution["id"], state=state["current"], created=datetime.fromisoformat(histories[0]["date"]),
                 ended=datetime.fromisoformat(histories[-1]["date"]))


@dataclass
class RateReport:
    rate_per_minute: float
    sent: int
    offered_per_minute: float
    accepted: int
    refused: dict[int, int]
    ended: int
    completed_per_minute: float
    not_ended: int
    final_states: dict[str, int]
    latency: list[float]  # creation → end, seconds, in call order
    send_lateness: list[float]
    call_seconds: list[float]


def rate_report(rate_per_minute: float, calls: Sequence[Call], ended: dict[str, Ended]) -> RateReport:
    """What a rate run measured. Offered is what was sent over the sending span (n - 1 intervals);
    completed is what ended over first creation → last end, both from the server's history dates."""
    ordered = sorted(calls, key=lambda c: c.due)
    span = ordered[-1].sent - ordered[0].sent if len(ordered) > 1 else 0.0
    offered = (len(ordered) - 1) / span * 60 if span > 0 else 0.0
    accepted = [c.execution_id for c in ordered if c.execution_id is not None]
    done = [ended[e] for e in accepted if e in ended]
    window = (max(d.ended for d in done) - min(d.created for d in done)).total_seconds() if done else 0.0
    refused: dict[int, int] = {}
    for c in ordered:
        if c.execution_id is None:
            refused[c.status] = refused.get(c.status, 0) + 1
    states: dict[str, int] = {}
    for d in done:
        states[d.state] = states.get(d.state, 0) + 1
    return RateReport(rate_per_minute=rate_per_minute, sent=len(ordered), offered_per_minute=offered,
                      accepted=len(accepted), refused=refused, ended=len(done),
                      completed_per_minute=len(done) / window * 60 if window > 0 else 0.0,
                      not_ended=len(accepted) - len(done), final_states=states,
                      latency=[d.seconds for d in done], send_lateness=[c.sent - c.due for c in ordered],
                      call_seconds=[c.answered - c.sent for c in ordered if c.execution_id is not None])


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def rate_rows(run: RateReport) -> list[Row]:
    rows = [
        Row("offered", run.offered_per_minute, "calls/min",
            f"{run.sent} webhook calls at {run.rate_per_minute:,.0f}/min, open loop; "
            f"{run.accepted} accepted" + (f", refused {run.refused}" if run.refused else ""),
            {"sent": run.sent, "accepted": run.accepted, "refused": run.refused}),
        Row("completed", run.completed_per_minute, "executions/min",
            f"{run.ended} ended, first creation to last end (state histories)", {"final_states": run.final_states}),
        Row("did not end", run.not_ended, "executions", "within the drain deadline"),
    ]
    if run.latency:
        rows += [Row(f"creation → end p{p}", ms(percentile(run.latency, p)), "ms", "state history",
                     {"samples_ms": [ms(v) for v in run.latency]} if p == 50 else {}) for p in (50, 95, 99)]
    rows.append(Row("scheduler lateness p99", ms(percentile(run.send_lateness, 99)), "ms",
                    "sent - due: above a few ms the client, not the server, limited the offered rate"))
    if run.call_seconds:
        rows.append(Row("webhook call p50", ms(percentile(run.call_seconds, 50)), "ms",
                        f"p99 {ms(percentile(run.call_seconds, 99))} ms"))
    return rows


def cpu_rows(cpu: dict[str, float], seconds: float, load: tuple[float, float], of: str) -> list[Row]:
    """The CPU each process used while ``of`` was measured (named, so that several measurements stay apart)."""
    total = sum(cpu.values())
    rows = [Row(f"{of}: CPU {name}", used, "s", "" if seconds <= 0 else f"{used / seconds:.2f} cores")
            for name, used in cpu.items()]
    rows.append(Row(f"{of}: CPU of the processes above", total, "s",
                    f"over {seconds:.1f} s; load average {load[0]:.2f} → {load[1]:.2f}",
                    {"cpu_seconds": cpu, "seconds": seconds, "load": load}))
    return rows


# ----- the server ----------------------------------------------------------------------------------
@dataclass
class Target:
    url: str  # http://host:port, the API being at /api/v1
    pid: int | None  # the server's process, when known (its children are found from it)
    services: dict[str, int] = field(default_factory=dict)  # other processes whose CPU counts (broker, ES)

    def api(self, path: str) -> str:
        return f"{self.url.rstrip('/')}/api/v1{path}"

    def roots(self) -> dict[str, int]:
        return ({"server": self.pid} if self.pid is not None else {}) | self.services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_pids(settings: ServicesSettings) -> dict[str, int]:
    """The Kafka broker's and Elasticsearch's pids, as the services launcher knows them (its pid files)."""
    pids: dict[str, int] = {}
    for name, known in services_status(["kafka", "elasticsearch"], settings=settings).items():
        if known.pid is None or not known.ready:
            raise SystemExit(f"{name} is not running and ready under {settings.home}: start the shared services "
                             "with `kestra-stream services up`, or set KESTRA_STREAM_HOME to where they run")
        pids["kafka broker" if name == "kafka" else name] = known.pid
    return pids


def server_command(server: str, home: Path, port: int, run_id: str, services: ServicesSettings,
                   extra: Sequence[str] = ()) -> list[str]:
    command = [sys.executable, "-m", "kestra_stream", "server", server, "--home", str(home / "server"),
               "--port", str(port), *extra]
    if server == "standalone":
        command += ["--backend", "kafka", "--bootstrap-servers", services.endpoint("kafka"),
                    "--topic-prefix", f"bench-{run_id}.", "--elasticsearch-url", services.endpoint("elasticsearch"),
                    "--index-prefix", f"bench_{run_id}"]
    return command


def start_process(command: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=log_file.parent)


def stop_process(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a user's Ctrl-C or service manager would; SIGKILL if it does not stop in time."""
    child.terminate()
    try:
        child.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


async def wait_ready(session: aiohttp.ClientSession, target: Target, child: subprocess.Popen[bytes] | None,
                     log_file: Path | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if child is not None and child.poll() is not None:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file else ""
            raise SystemExit(f"the server exited with code {child.returncode} before it was ready:\n{tail}")
        try:
            async with session.get(f"{target.url.rstrip('/')}/health/readiness") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server at {target.url} was not ready after {READY_TIMEOUT:.0f} s")
        await asyncio.sleep(0.5)


async def cleanup_standalone(session: aiohttp.ClientSession, services: ServicesSettings, run_id: str) -> None:
    """Delete the run's topics and indices: the broker and Elasticsearch are shared by everyone."""
    from bench_kafka import delete_run_topics

    from kestra_stream.kafka import KafkaSettings

    await asyncio.to_thread(delete_run_topics, KafkaSettings(bootstrap_servers=services.endpoint("kafka"),
                                                             topic_prefix=f"bench-{run_id}."))
    es = services.endpoint("elasticsearch")
    async with session.get(f"{es}/_cat/indices/bench_{run_id}*", params={"format": "json", "h": "index"}) as answer:
        indices = [row["index"] for row in await answer.json()] if answer.status == 200 else []
    for index in indices:
        async with session.delete(f"{es}/{index}") as answer:
            await answer.read()


@asynccontextmanager
async def running_server(args: argparse.Namespace, session: aiohttp.ClientSession) -> AsyncIterator[Target]:
    """The server under test: the one at ``--url``, or a fresh one started here and stopped afterwards."""
    if args.url:
        target = Target(args.url, args.server_pid)
        await wait_ready(session, target, None, None)
        yield target
        return
    services = ServicesSettings.load()
    shared = service_pids(services) if args.server == "standalone" else {}
    run_id = uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        home, port = Path(tmp), free_port()
        log_file = home / "server.log"
        child = start_process(server_command(args.server, home, port, run_id, services, args.server_arg), log_file)
        target = Target(f"http://127.0.0.1:{port}", child.pid, shared)
        try:
            await wait_ready(session, target, child, log_file)
            yield target
        finally:
            await asyncio.to_thread(stop_process, child)
            if args.server == "standalone" and not args.keep:
                await cleanup_standalone(session, services, run_id)


# ----- over HTTP -----------------------------------------------------------------------------------
async def deploy(session: aiohttp.ClientSession, target: Target, name: str) -> None:
    """Create the flow from benchmarks/flows, or update it when the server already has it."""
    source = flow_source(name)
    headers = {"Content-Type": "application/x-yaml"}
    async with session.post(target.api("/flows"), data=source, headers=headers) as answer:
        if answer.status == 200:
            return
        created = f"{answer.status} {await answer.text()}"
    async with session.put(target.api(f"/flows/{NAMESPACE}/{name}"), data=source, headers=headers) as answer:
        if answer.status != 200:
            raise SystemExit(f"could not deploy {name}: POST answered {created}, PUT {answer.status} "
                             f"{await answer.text()}")


async def execution(session: aiohttp.ClientSession, target: Target, execution_id: str) -> dict[str, Any] | None:
    async with session.get(target.api(f"/executions/{execution_id}")) as answer:
        return await answer.json() if answer.status == 200 else None  # type: ignore[no-any-return]


async def warm_up(session: aiohttp.ClientSession, target: Target, webhook: str, count: int) -> None:
    """Unmeasured webhook calls, each followed to its end: the first waits until the trigger is known."""
    deadline = time.monotonic() + FIRST_CALL_TIMEOUT
    for _ in range(count):
        while True:
            async with session.post(webhook, json={"warmup": True}) as answer:
                if answer.status == 200:
                    execution_id = str((await answer.json())["id"])
                    break
                detail = f"{answer.status} {await answer.text()}"
            if time.monotonic() > deadline:
                raise SystemExit(f"the webhook still answers {detail} after {FIRST_CALL_TIMEOUT:.0f} s")
            await asyncio.sleep(0.5)
        while True:
            found = await execution(session, target, execution_id)
            if found is not None and ended_of(found) is not None:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the warm-up execution {execution_id} did not end in {FIRST_CALL_TIMEOUT:.0f} s")
            await asyncio.sleep(0.2)


async def fire(session: aiohttp.ClientSession, webhook: str, offsets: Sequence[float]) -> list[Call]:
    """Each call as its own task at its due time, whatever became of the earlier ones (open loop)."""
    calls: list[Call] = []

    async def one(number: int, due: float) -> None:
        sent = time.perf_counter()
        status, execution_id = 0, None
        try:
            async with session.post(webhook, json={"call": number}) as answer:
                status = answer.status
                if status == 200:
                    execution_id = str((await answer.json())["id"])
                else:
                    await answer.read()
        except aiohttp.ClientError:
            pass
        calls.append(Call(due=due, sent=sent, answered=time.perf_counter(), status=status,
                          execution_id=execution_id))

    first = time.perf_counter()
    pending = []
    for number, offset in enumerate(offsets):
        delay = first + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(number, first + offset)))
    await asyncio.gather(*pending)
    return calls


async def poll_ended(session: aiohttp.ClientSession, target: Target, flow: str, ids: set[str],
                     drain_seconds: float, started_after: datetime) -> dict[str, Ended]:
    """Page through the search API's ended executions of ``flow`` started after ``started_after`` (the
    server runs on this machine, so one clock) until all of ``ids`` are there or time is up.

    The search serves the first 10,000 results of a query only (as Elasticsearch does), so the pages go
    in start-date order and, once a window is read to its end, the next window starts at the last start
    date read: any number of executions is covered, each window's ids deduplicated by the dict.
    """
    ended: dict[str, Ended] = {}
    deadline = time.monotonic() + drain_seconds
    while len(ended) < len(ids) and time.monotonic() < deadline:
        since = started_after.isoformat()
        page = 1
        while True:
            params = [("namespace", NAMESPACE), ("flowId", flow), ("size", str(SEARCH_PAGE)), ("page", str(page)),
                      ("sort", "state.startDate:asc"), ("startDate", since),
                      *(("state", state) for state in TERMINATED)]
            async with session.get(target.api("/executions/search"), params=params) as answer:
                if answer.status != 200:
                    raise SystemExit(f"the search API answered {answer.status}: {await answer.text()}")
                found = await answer.json()
            for item in found["results"]:
                if item["id"] in ids and (done := ended_of(item)) is not None:
                    ended[item["id"]] = done
            if page * SEARCH_PAGE >= found["total"]:
                break
            last = str(found["results"][-1]["state"]["histories"][0]["date"]) if found["results"] else since
            if (page + 1) * SEARCH_PAGE > SEARCH_WINDOW and last != since:
                since, page = last, 1
            else:
                page += 1
        if len(ended) < len(ids):
            await asyncio.sleep(POLL_SECONDS)
    return ended


@dataclass
class Measured:
    rows: list[Row]
    failures: list[str]
    rate: RateReport | None = None


def cpu_snapshot() -> tuple[dict[int, ProcStat], float, float]:
    return proc_table(), time.perf_counter(), os.getloadavg()[0]


def cpu_since(target: Target, before: tuple[dict[int, ProcStat], float, float], of: str) -> list[Row]:
    table, started, load = before
    return cpu_rows(cpu_used(table, proc_table(), target.roots()), time.perf_counter() - started,
                    (load, os.getloadavg()[0]), of)


async def measure_rate(session: aiohttp.ClientSession, target: Target, args: argparse.Namespace) -> Measured:
    await deploy(session, target, RATE_FLOW)
    webhook = target.api(f"/executions/webhook/{NAMESPACE}/{RATE_FLOW}/{WEBHOOK_KEY}")
    await warm_up(session, target, webhook, args.warmup)
    before = cpu_snapshot()
    started = datetime.now(UTC)
    calls = await fire(session, webhook, send_offsets(args.rate, args.duration))
    ids = {c.execution_id for c in calls if c.execution_id is not None}
    ended = await poll_ended(session, target, RATE_FLOW, ids, args.drain, started)
    run = rate_report(args.rate, calls, ended)
    failures = []
    if run.refused:
        failures.append(f"webhook calls refused: {run.refused}")
    if run.not_ended:
        failures.append(f"{run.not_ended} executions did not end within {args.drain:.0f} s")
    unsuccessful = run.ended - run.final_states.get(StateType.SUCCESS.value, 0)
    if unsuccessful:
        failures.append(f"{unsuccessful} executions did not end in SUCCESS: {run.final_states}")
    return Measured(rate_rows(run) + cpu_since(target, before, RATE_FLOW), failures, run)


async def measure_flow(session: aiohttp.ClientSession, target: Target, name: str, runs: int,
                       warmup: int) -> Measured:
    await deploy(session, target, name)
    url = target.api(f"/executions/{NAMESPACE}/{name}")
    history: list[float] = []
    wall: list[float] = []
    failures: list[str] = []
    before = cpu_snapshot()
    for number in range(warmup + runs):
        started = time.perf_counter()
        async with session.post(url, params={"wait": "true"}) as answer:
            if answer.status != 200:
                raise SystemExit(f"creating an execution of {name} answered {answer.status}: {await answer.text()}")
            body = await answer.json()
        took = time.perf_counter() - started
        done = ended_of(body)
        if done is None or done.state != StateType.SUCCESS.value:
            failures.append(f"{name}: execution {body['id']} answered in state {body['state']['current']}")
            continue
        if number >= warmup:
            history.append(done.seconds)
            wall.append(took)
    if not history:
        return Measured([], failures or [f"{name}: no execution measured"])
    rows = [Row(f"{name} p50", median(history), "s", f"creation → end (state history), {len(history)} runs, "
                f"max {max(history):.3f} s", {"history_seconds": history}),
            Row(f"{name} wall p50", median(wall), "s", "the create call with ?wait=true, over HTTP",
                {"wall_seconds": wall})]
    return Measured(rows + cpu_since(target, before, name), failures)


async def measure(args: argparse.Namespace) -> list[Measured]:
    # limit=0: no connection pool cap, or queued calls would wait client-side and lower the offered rate.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=args.call_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session, \
            running_server(args, session) as target:
        results = []
        if args.rate is not None:
            results.append(await measure_rate(session, target, args))
        for name in args.flow:
            results.append(await measure_flow(session, target, name, args.runs, args.flow_warmup))
        return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=SERVERS, default="local",
                        help="which server to start: `server local` or `server standalone --backend kafka`")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="one more argument of the server command, e.g. --server-arg=--in-process or "
                             "--server-arg=--workers --server-arg=2 (repeat)")
    parser.add_argument("--url", help="measure the server already listening there instead of starting one")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's pid, for its CPU seconds")
    parser.add_argument("--rate", type=parse_rate, default=None,
                        help="webhook calls per minute (`1000` or `1000/min`); default 1000 unless --flow is given")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of offered load")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for every execution to end")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured webhook calls, each followed to its end")
    parser.add_argument("--flow", action="append", default=[],
                        help="a flow of benchmarks/flows run one execution at a time (repeatable)")
    parser.add_argument("--runs", type=int, default=10, help="measured executions of each --flow")
    parser.add_argument("--flow-warmup", type=int, default=1, help="unmeasured executions of each --flow")
    parser.add_argument("--call-timeout", type=float, default=600.0, help="seconds before one HTTP call gives up")
    parser.add_argument("--output", type=Path, help="the JSON result file (default benchmarks/results/...)")
    parser.add_argument("--keep", action="store_true", help="standalone: leave the run's topics and indices")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    args = parser.parse_args(argv)
    if args.rate is None and not args.flow:
        args.rate = 1000.0
    if args.duration <= 0 or args.drain <= 0 or args.runs < 1 or args.warmup < 1:
        parser.error("--duration and --drain must be above 0, --runs and --warmup at least 1")
    if args.server_pid is not None and not args.url:
        parser.error("--server-pid goes with --url (a server started here is known already)")
    return args


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {"server": "url" if args.url else args.server, "url": args.url,
                                "server_args": args.server_arg}
    if args.rate is not None:
        settings |= {"rate_per_minute": args.rate, "duration_seconds": args.duration, "drain_seconds": args.drain,
                     "warmup": args.warmup}
    if args.flow:
        settings |= {"flows": args.flow, "runs": args.runs, "flow_warmup": args.flow_warmup}
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    measured = asyncio.run(measure(args))
    rows = [row for m in measured for row in m.rows]
    settings = settings_of(args)
    title = f"bench_server ({settings['server']})"
    output = args.output or RESULTS_DIR / (f"bench_server-{settings['server']}-"
                                           f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document(title, rows, settings), indent=2) + "\n")
    report(title, rows, settings, as_json=args.json)
    print(f"written to {output}", file=sys.stderr)
    failures = [f for m in measured for f in m.failures]
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
