"""The API calls behind the executions list and the home dashboard, on 100,000 executions in Elasticsearch.

Issue 17's target: each call answers in < 100 ms at p95. How it measures:

1. **Load.** ``--count`` realistic execution snapshots (a few task runs with attempts and state
   histories, inputs, labels, a schedule trigger for some; 8 namespaces in a tree, 48 flows, start
   dates over the last 30 days, mostly SUCCESS with some FAILED, WARNING, KILLED, RUNNING) are
   bulk-indexed into an index prefix of this run (created by the repository's own ``setup``), with
   refreshes off while loading and the usual 1 s after. Building 100,000 pydantic executions and
   their documents would take minutes of CPU, so ``TEMPLATES`` of them are built through the
   models and the indexer's ``execution_document``, and each document indexed is one of them as
   JSON text with a new id and every timestamp moved by the same offset to a new start date.
2. **Serve.** ``kestra-stream server standalone --backend kafka`` is started on that index prefix
   (and a topic prefix of its own), on the shared Kafka and Elasticsearch of ``KESTRA_STREAM_HOME``.
3. **Time.** Each call is made ``--repeat`` times over loopback HTTP, one at a time, the calls
   taking turns; its wall time from request to the last byte of the answer is recorded. Every
   repetition ends its time range at that moment's second, as a page showing "the last 30 days"
   does, so Elasticsearch's request cache cannot answer a repetition from the one before.
4. **Clean.** The server is stopped; the run's topics, indices and index templates are deleted.

The calls (``CALLS``): the executions list's search (a namespace with its children, the last 7
days, sorted by start date) at page 1 and at a deep page (the last page below Elasticsearch's
10,000-result window), with a state filter, its counts per state and its daily histogram; the
dashboard's daily histogram, counts per state (failure ratio), most-run flows and latest failures.

    .venv/bin/python benchmarks/bench_ui_queries.py
    .venv/bin/python benchmarks/bench_ui_queries.py --count 20000 --repeat 50 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from _harness import Row, document, median, percentile, report
from bench_server import (
    Target,
    cleanup_standalone,
    free_port,
    server_command,
    service_pids,
    start_process,
    stop_process,
    wait_ready,
)
from elasticsearch import Elasticsearch

from kestra_stream.ids import id_of
from kestra_stream.models.execution import Attempt, Execution, TaskRun, TriggeredBy, execution_trigger
from kestra_stream.models.state import State, StateHistory, StateType
from kestra_stream.search import ElasticsearchRepository
from kestra_stream.search._elasticsearch import execution_document
from kestra_stream.services import ServicesSettings

TARGET_P95_MS = 100.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"
NAMESPACES = ("company", "company.sales", "company.sales.emea", "company.data", "company.data.etl",
              "company.ops", "acme", "acme.billing")
FLOW_KINDS = ("ingest", "transform", "report", "sync", "cleanup", "notify")
# Current states, with their weights: what a busy instance shows over a month.
STATES = ((StateType.SUCCESS, 82), (StateType.FAILED, 8), (StateType.WARNING, 4), (StateType.KILLED, 2),
          (StateType.RUNNING, 3), (StateType.PAUSED, 1))
SPREAD = timedelta(days=30)
LOAD_BATCH = 5000
TEMPLATES = 960  # executions built through the models; every document loaded is one of them, moved
# A timestamp as the documents write them: pydantic's ("...:05Z", "...:05.120000Z") and ``iso``'s.
_TIMESTAMP = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')
PAGE_SIZE = 25
DEEP_PAGE = 10_000 // PAGE_SIZE  # the last page Elasticsearch's result window allows


# ----- pure: the executions loaded ---------------------------------------------------------------
def synthetic_execution(number: int, now: datetime, rng: random.Random) -> Execution:
    """Execution ``number`` of a run: its flow, dates, state and task runs drawn from ``rng``."""
    namespace = NAMESPACES[number % len(NAMESPACES)]
    flow_id = f"{FLOW_KINDS[(number // len(NAMESPACES)) % len(FLOW_KINDS)]}_{namespace.rsplit('.', 1)[-1]}"
    execution_id = id_of(rng.getrandbits(128))
    started = now - SPREAD * rng.random()
    state = rng.choices([s for s, _ in STATES], weights=[w for _, w in STATES])[0]
    tasks = 2 + rng.randrange(5)
    clock = started + timedelta(milliseconds=rng.randrange(20, 200))
    task_runs: list[TaskRun] = []
    for position in range(tasks):
        last = position == tasks - 1
        task_state = state if last and state is not StateType.WARNING else StateType.SUCCESS
        seconds = rng.lognormvariate(0.5, 1.0)
        retried = task_state is StateType.FAILED or rng.random() < 0.03
        attempts = tuple(Attempt(state=_history(clock, StateType.FAILED if i < 1 and retried else task_state, seconds))
                         for i in range(2 if retried else 1))
        task_runs.append(TaskRun(
            id=id_of(rng.getrandbits(128)), execution_id=execution_id, namespace=namespace, flow_id=flow_id,
            task_id=f"step_{position + 1}", attempts=attempts, state=_history(clock, task_state, seconds),
            outputs={"rows": rng.randrange(10_000), "uri": f"kestra:///{namespace}/{flow_id}/out.csv"}
            if task_state.is_terminated else None))
        clock += timedelta(seconds=seconds)
        if last or not task_state.is_success:
            break
    day = started.date().isoformat()
    return Execution(
        id=execution_id, namespace=namespace, flow_id=flow_id, flow_revision=1 + number % 4,
        inputs={"date": day, "region": rng.choice(("eu-west", "us-east", "ap-south")), "limit": rng.randrange(100)},
        labels={"env": "prod" if rng.random() < 0.7 else "dev", "team": namespace.split(".")[-1]},
        state=_history(started, state, (clock - started).total_seconds()), task_run_list=tuple(task_runs),
        trigger=execution_trigger("daily", "io.kestra.plugin.core.trigger.Schedule", {"date": f"{day}T00:00:00Z"},
                                  TriggeredBy.SCHEDULE)
        if number % 3 == 0 else None)


def _history(start: datetime, state: StateType, seconds: float) -> State:
    """CREATED, RUNNING and, for an ended or paused state, that state ``seconds`` after the start."""
    histories = [StateHistory(state=StateType.CREATED, date=start),
                 StateHistory(state=StateType.RUNNING, date=start + timedelta(milliseconds=5))]
    if state not in (StateType.CREATED, StateType.RUNNING):
        histories.append(StateHistory(state=state, date=start + timedelta(seconds=max(seconds, 0.01))))
    return State(current=state, histories=tuple(histories))


def synthetic_executions(count: int, now: datetime, seed: int) -> Iterator[Execution]:
    rng = random.Random(seed)
    for number in range(count):
        yield synthetic_execution(number, now, rng)


@dataclass(frozen=True)
class Template:
    """An execution document as JSON text, cut at its id and its timestamps, to be moved cheaply."""

    parts: tuple[str, ...]  # the text between the holes: one more than the holes
    holes: tuple[str | timedelta, ...]  # "id", "word" (the id in ``text``, lowercased) or a time from the start

    @classmethod
    def of(cls, execution: Execution) -> Template:
        text = execution_document(execution).decode()  # compact JSON, as the indexer sends it
        start = execution.state.histories[0].date
        pattern = re.compile(f"{_TIMESTAMP.pattern}|({re.escape(execution.id)})|({re.escape(execution.id.lower())})")
        parts: list[str] = []
        holes: list[str | timedelta] = []
        position = 0
        for found in pattern.finditer(text):
            timestamp, execution_id, _word = found.groups()
            if timestamp is not None:
                parts.append(text[position:found.start(1)])
                holes.append(datetime.fromisoformat(timestamp) - start)
                position = found.end(1)
            else:
                parts.append(text[position:found.start()])
                holes.append("id" if execution_id is not None else "word")
                position = found.end()
        parts.append(text[position:])
        return cls(tuple(parts), tuple(holes))

    def render(self, execution_id: str, start: datetime) -> str:
        """The document of the same execution under ``execution_id``, started at ``start``."""
        out = [self.parts[0]]
        for hole, part in zip(self.holes, self.parts[1:], strict=True):
            if isinstance(hole, timedelta):
                out.append((start + hole).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            else:
                out.append(execution_id if hole == "id" else execution_id.lower())
            out.append(part)
        return "".join(out)


def bulk_lines(templates: Sequence[Template], count: int, now: datetime, seed: int) -> Iterator[tuple[str, str]]:
    """(id, document) of ``count`` executions: the templates in turn, each at a start drawn in ``SPREAD``."""
    rng = random.Random(seed + 1)
    for number in range(count):
        execution_id = id_of(rng.getrandbits(128))
        yield execution_id, templates[number % len(templates)].render(execution_id, now - SPREAD * rng.random())


# ----- pure: the calls and their figures ---------------------------------------------------------
@dataclass(frozen=True)
class Call:
    name: str
    page: str  # which page makes it: "executions list", "dashboard", or "baseline" (no search: not judged)
    path: str  # below /api/v1

    def params(self, now: datetime) -> list[tuple[str, str]]:
        """The query of this call for a page showing its range up to ``now``."""
        return _PARAMS[self.name](now)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_filter(now: datetime) -> list[tuple[str, str]]:
    return [("namespace", "company"), ("startDate", _stamp(now - timedelta(days=7))), ("endDate", _stamp(now))]


def _month(now: datetime) -> list[tuple[str, str]]:
    return [("startDate", _stamp(now - SPREAD)), ("endDate", _stamp(now))]


_SORT = ("sort", "state.startDate:desc")
_PARAMS: dict[str, Callable[[datetime], list[tuple[str, str]]]] = {
    "baseline: configs (no search)": lambda now: [],
    "list: search, page 1": lambda now: [*_list_filter(now), _SORT, ("page", "1"), ("size", str(PAGE_SIZE))],
    "list: search, deep page": lambda now: [*_list_filter(now), _SORT, ("page", str(DEEP_PAGE)),
                                            ("size", str(PAGE_SIZE))],
    "list: search FAILED, page 1": lambda now: [*_list_filter(now), ("state", "FAILED"), _SORT, ("page", "1"),
                                                ("size", str(PAGE_SIZE))],
    "list: counts per state": _list_filter,
    "list: daily histogram": _list_filter,
    "dashboard: daily histogram": _month,
    "dashboard: counts per state": _month,
    "dashboard: most-run flows": lambda now: [*_month(now), ("size", "10")],
    "dashboard: latest failures": lambda now: [*_month(now), ("state", "FAILED"), _SORT, ("size", "5")],
}
CALLS = (
    Call("baseline: configs (no search)", "baseline", "/configs"),
    Call("list: search, page 1", "executions list", "/executions/search"),
    Call("list: search, deep page", "executions list", "/executions/search"),
    Call("list: search FAILED, page 1", "executions list", "/executions/search"),
    Call("list: counts per state", "executions list", "/stats/executions/count-by-state"),
    Call("list: daily histogram", "executions list", "/stats/executions/daily"),
    Call("dashboard: daily histogram", "dashboard", "/stats/executions/daily"),
    Call("dashboard: counts per state", "dashboard", "/stats/executions/count-by-state"),
    Call("dashboard: most-run flows", "dashboard", "/stats/executions/most-run-flows"),
    Call("dashboard: latest failures", "dashboard", "/executions/search"),
)


def call_row(call: Call, millis: Sequence[float]) -> Row:
    """p95 of one call's wall times (ms) as the figure, p50 and p99 beside it, and the target's verdict."""
    p50, p95, p99 = median(millis), percentile(millis, 95), percentile(millis, 99)
    spread = f"p50 {p50:.1f} / p95 {p95:.1f} / p99 {p99:.1f} ms over {len(millis)} calls"
    extra: dict[str, Any] = {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "calls": len(millis)}
    if call.page == "baseline":
        return Row(f"{call.name} p95", p95, "ms", spread, extra)
    verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
    return Row(f"{call.name} p95", p95, "ms", f"{spread}; < {TARGET_P95_MS:.0f} ms p95 {verdict}",
               extra | {"met": p95 < TARGET_P95_MS})


def missed(rows: Sequence[Row]) -> list[str]:
    return [row.name for row in rows if row.extra.get("met") is False]


# ----- loading -----------------------------------------------------------------------------------
def load(es_url: str, prefix: str, count: int, now: datetime, seed: int) -> Row:
    """Bulk-index ``count`` executions under ``prefix``; the load's rate as a row."""
    repository = ElasticsearchRepository(Elasticsearch(es_url, request_timeout=300), prefix=prefix,
                                         refresh_interval="-1")
    repository.setup()
    index = repository.index("executions")
    started = time.monotonic()
    templates = [Template.of(e) for e in synthetic_executions(min(TEMPLATES, count), now, seed)]
    lines: list[str] = []
    for execution_id, source in bulk_lines(templates, count, now, seed):
        # External versions, as the indexer writes them.
        lines.append(json.dumps({"index": {"_index": index, "_id": execution_id, "version": 1,
                                           "version_type": "external"}}))
        lines.append(source)
        if len(lines) == 2 * LOAD_BATCH:
            _bulk(repository.client, lines)
            lines = []
    if lines:
        _bulk(repository.client, lines)
    # Back to what the server's indices have, then everything visible.
    repository.client.indices.put_settings(index=index, settings={"index": {"refresh_interval": "1s"}})
    repository.refresh()
    seconds = time.monotonic() - started
    indexed = int(repository.client.count(index=index)["count"])
    size = repository.client.indices.stats(index=index, metric="store")["indices"][index]["total"]["store"]
    repository.close()
    if indexed != count:
        raise SystemExit(f"{indexed} executions indexed under {prefix}, {count} expected")
    return Row("load", count / seconds, "executions/s",
               f"{count:,} executions in {seconds:.1f} s, index {size['size_in_bytes'] / 2**20:.0f} MiB",
               {"count": count, "seconds": seconds, "index_bytes": size["size_in_bytes"]})


def _bulk(client: Elasticsearch, lines: list[str]) -> None:
    answer = client.bulk(operations="\n".join(lines) + "\n")
    if answer["errors"]:
        failed = next(item for item in answer["items"] if item["index"].get("error"))
        raise SystemExit(f"Elasticsearch refused a document of the load: {failed}")


def drop(es_url: str, prefix: str) -> None:
    repository = ElasticsearchRepository(Elasticsearch(es_url, request_timeout=60), prefix=prefix)
    repository.drop()
    repository.close()


# ----- timing over HTTP --------------------------------------------------------------------------
async def timed(session: aiohttp.ClientSession, target: Target, call: Call, now: datetime) -> float:
    """Milliseconds from sending ``call`` to its whole answer; a failed call stops the benchmark."""
    started = time.perf_counter()
    async with session.get(target.api(call.path), params=call.params(now)) as answer:
        body = await answer.read()
    millis = (time.perf_counter() - started) * 1000
    if answer.status != 200:
        raise SystemExit(f"{call.name}: {answer.status} {body[:500]!r}")
    return millis


async def measure_calls(session: aiohttp.ClientSession, target: Target, repeat: int,
                        warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {call.name: [] for call in CALLS}
    for round_ in range(warmup + repeat):
        for call in CALLS:
            # A second later each round: another range, as a page refreshed a moment later asks.
            millis = await timed(session, target, call, datetime.now(UTC) + timedelta(seconds=round_))
            if round_ >= warmup:
                times[call.name].append(millis)
    return times


async def sanity(session: aiohttp.ClientSession, target: Target, count: int) -> None:
    """The server sees the executions loaded: the dashboard's counts over the month add up to them."""
    now = datetime.now(UTC) + timedelta(minutes=1)
    params = [("startDate", _stamp(now - SPREAD - timedelta(days=1))), ("endDate", _stamp(now))]
    async with session.get(target.api("/stats/executions/count-by-state"), params=params) as answer:
        total = (await answer.json())["total"]
    if total != count:
        raise SystemExit(f"the server counts {total} executions, {count} were loaded: wrong index prefix?")


@asynccontextmanager
async def standalone_server(session: aiohttp.ClientSession, services: ServicesSettings,
                            run_id: str) -> AsyncIterator[Target]:
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        home, port = Path(tmp), free_port()
        log_file = home / "server.log"
        child = start_process(server_command("standalone", home, port, run_id, services), log_file)
        target = Target(f"http://127.0.0.1:{port}", child.pid, service_pids(services))
        try:
            await wait_ready(session, target, child, log_file)
            yield target
        finally:
            await asyncio.to_thread(stop_process, child)


async def run(args: argparse.Namespace) -> list[Row]:
    services = ServicesSettings.load()
    service_pids(services)  # both shared services running, or a clear exit
    es_url = services.endpoint("elasticsearch")
    run_id = args.reuse or uuid.uuid4().hex[:12]
    prefix = f"bench_{run_id}"  # the index prefix ``server_command`` gives the server
    now = datetime.now(UTC)
    rows: list[Row] = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            if not args.reuse:
                rows.append(await asyncio.to_thread(load, es_url, prefix, args.count, now, args.seed))
            async with standalone_server(session, services, run_id) as target:
                await sanity(session, target, args.count)
                times = await measure_calls(session, target, args.repeat, args.warmup)
            rows += [call_row(call, times[call.name]) for call in CALLS]
        finally:
            if args.keep:
                print(f"kept run {run_id}: --reuse {run_id} times the calls on its executions again", file=sys.stderr)
            else:
                await cleanup_standalone(session, services, run_id)
                await asyncio.to_thread(drop, es_url, prefix)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="executions loaded into Elasticsearch")
    parser.add_argument("--repeat", type=int, default=100, help="timed calls of each kind")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds of every call first")
    parser.add_argument("--seed", type=int, default=17, help="the executions drawn are the same for a seed")
    parser.add_argument("--output", type=Path, help="the JSON result file (default benchmarks/results/...)")
    parser.add_argument("--keep", action="store_true", help="leave the run's topics and indices (and say its id)")
    parser.add_argument("--reuse", metavar="RUN_ID",
                        help="time the calls on the executions a --keep run loaded (its start dates age with it)")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--count and --repeat must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = asyncio.run(run(args))
    settings = {"server": "standalone", "count": args.count, "repeat": args.repeat, "warmup": args.warmup,
                "seed": args.seed, "reused_load": args.reuse}
    title = "bench_ui_queries (standalone, Elasticsearch)"
    output = args.output or RESULTS_DIR / f"bench_ui_queries-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document(title, rows, settings), indent=2) + "\n")
    report(title, rows, settings, as_json=args.json)
    print(f"written to {output}", file=sys.stderr)
    for name in missed(rows):
        print(f"{name}: over the {TARGET_P95_MS:.0f} ms target", file=sys.stderr)
    return 1 if missed(rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
