"""bench_ui_queries: the executions it loads, the documents moved from templates, the calls and verdicts."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench_ui_queries import (
    CALLS,
    NAMESPACES,
    PAGE_SIZE,
    SPREAD,
    TARGET_P95_MS,
    Call,
    Template,
    bulk_lines,
    call_row,
    missed,
    synthetic_execution,
    synthetic_executions,
)

from kestra_stream.models.execution import Execution
from kestra_stream.models.state import StateType
from kestra_stream.search import MAX_RESULT_WINDOW
from kestra_stream.search._elasticsearch import execution_document

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_executions_drawn_are_the_same_for_a_seed_and_cover_every_namespace() -> None:
    first = [e.model_dump() for e in synthetic_executions(50, NOW, 17)]
    assert first == [e.model_dump() for e in synthetic_executions(50, NOW, 17)]
    drawn = list(synthetic_executions(960, NOW, 17))
    assert {e.namespace for e in drawn} == set(NAMESPACES)
    assert len({(e.namespace, e.flow_id) for e in drawn}) == 48
    states = Counter(e.state.current for e in drawn)
    assert states.most_common(1)[0][0] is StateType.SUCCESS
    assert {StateType.FAILED, StateType.RUNNING, StateType.KILLED} <= set(states)
    assert all(NOW - SPREAD <= e.state.histories[0].date <= NOW for e in drawn)


def test_a_failed_execution_ends_on_a_failed_task_run_retried_once() -> None:
    rng = random.Random(3)
    failed = next(e for e in (synthetic_execution(n, NOW, rng) for n in range(500))
                  if e.state.current is StateType.FAILED)
    last = failed.task_run_list[-1]
    assert last.state.current is StateType.FAILED
    assert [a.state.current for a in last.attempts] == [StateType.FAILED, StateType.FAILED]


def test_a_template_renders_the_indexers_document_of_the_execution_moved_and_renamed() -> None:
    execution = synthetic_execution(4, NOW, random.Random(5))
    template = Template.of(execution)
    assert template.render(execution.id, execution.state.histories[0].date) == execution_document(execution).decode()

    start = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
    moved = json.loads(template.render("NewId0123456789abcdefg", start))
    body = Execution.model_validate(moved["body"])
    offset = start - execution.state.histories[0].date
    assert body.id == moved["id"] == "NewId0123456789abcdefg"
    assert moved["startDate"] == "2026-11-20T06:30:00.000000Z"
    assert [h.date for h in body.state.histories] == [h.date + offset for h in execution.state.histories]
    assert all(tr.execution_id == body.id for tr in body.task_run_list)
    assert moved["text"].split()[0] == "newid0123456789abcdefg"
    # The same document as the indexer's, but for how the body's dates are written (".000000Z" or "Z").
    assert {**moved, "body": None} == {**json.loads(execution_document(body)), "body": None}


def test_bulk_lines_take_the_templates_in_turn_with_fresh_ids_within_the_spread() -> None:
    templates = [Template.of(e) for e in synthetic_executions(3, NOW, 1)]
    lines = list(bulk_lines(templates, 7, NOW, 1))
    assert len({execution_id for execution_id, _ in lines}) == 7
    documents = [json.loads(source) for _, source in lines]
    assert [d["flowId"] for d in documents[3:6]] == [d["flowId"] for d in documents[:3]]
    starts = [datetime.fromisoformat(d["startDate"]) for d in documents]
    assert all(NOW - SPREAD <= s <= NOW for s in starts)


def test_every_call_ends_its_range_at_now_and_the_deep_page_stays_in_the_result_window() -> None:
    for call in CALLS:
        params = dict(call.params(NOW))
        if "endDate" in params:
            assert params["endDate"] == "2026-12-03T12:00:00Z"
    deep = dict(next(c for c in CALLS if "deep" in c.name).params(NOW))
    assert int(deep["page"]) * PAGE_SIZE == MAX_RESULT_WINDOW
    later = dict(CALLS[1].params(NOW + timedelta(seconds=1)))
    assert later["endDate"] == "2026-12-03T12:00:01Z"


def test_a_call_row_gives_the_percentiles_and_the_verdict_but_never_judges_the_baseline() -> None:
    fast = call_row(Call("list: counts per state", "executions list", "/x"), [10.0] * 95 + [500.0] * 5)
    slow = call_row(Call("dashboard: daily histogram", "dashboard", "/y"), [10.0] * 94 + [500.0] * 6)
    baseline = call_row(Call("baseline: configs (no search)", "baseline", "/configs"), [500.0])
    assert (fast.value, fast.extra["p50_ms"], fast.extra["p99_ms"], fast.extra["met"]) == (10.0, 10.0, 500.0, True)
    assert slow.value == 500.0 > TARGET_P95_MS
    assert "MISSED" in slow.detail
    assert "met" not in baseline.extra
    assert missed([fast, slow, baseline]) == ["dashboard: daily histogram p95"]
