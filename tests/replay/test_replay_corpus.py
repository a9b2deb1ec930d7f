"""Event logs recorded by earlier versions still decode and still fold to what they folded to then.

Each corpus directory ``corpus/v<N>`` was recorded by ``tests.replay.record`` when the wire format
was version N (v0: before records carried a version). A change to the fold, the models or the
codec that makes an old log end differently fails here: either it is a bug, or it is a
deliberate change of behaviour that needs a new wire version and an upgrade step (see
kestra_stream/executor/wire.py), never a re-recorded old corpus.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.runtime import ExecutorRuntime, ManualClock
from kestra_stream.executor.wire import EVENTS, STATES, WIRE_VERSION
from kestra_stream.flows import load_flow
from kestra_stream.flows.catalog import FlowCatalog
from kestra_stream.plugins.registry import default_registry
from tests.replay.cases import CASES

CORPUS = Path(__file__).parent / "corpus"
_RECORDED = sorted((version, case) for version in CORPUS.iterdir() for case in version.iterdir() if case.is_dir())


def _version_of(line: str) -> int:
    value = json.loads(line).get("v", 0)
    assert isinstance(value, int)
    return value


def _fold_log(case: Path) -> dict[str, ExecutionState]:
    catalog = FlowCatalog()
    registry = default_registry()
    for source in sorted((case / "flows").glob("*.yaml")):
        flow = load_flow(source.read_text(), file=source.name, registry=registry)
        catalog.add(flow.model_copy(update={"revision": 1}), 1)
    # The runtime's own flow lookup and fold, as both backends call them; its clock is only read when
    # an execution must be failed without its flow, which no recorded log needs.
    runtime = ExecutorRuntime(catalog, clock=ManualClock(), flow_wait_seconds=0)
    states: dict[str, ExecutionState] = {}

    async def fold_all() -> None:
        for line in (case / "events.jsonl").read_text().splitlines():
            event = EVENTS.decode(line)
            decision = await runtime.decide(event, states.get(event.execution_id))
            assert decision.flow is not None, f"{event.kind} {event.event_id} could not be folded with its flow"
            if decision.state is not None:
                states[event.execution_id] = decision.state

    asyncio.run(fold_all())
    return states


@pytest.mark.parametrize(("version", "case"), _RECORDED, ids=[f"{v.name}-{c.name}" for v, c in _RECORDED])
def test_recorded_log_folds_to_the_states_recorded_with_it(version: Path, case: Path) -> None:
    recorded = {s.execution.id: s for s in map(STATES.decode, (case / "states.jsonl").read_text().splitlines())}
    folded = _fold_log(case)
    assert sorted(folded) == sorted(recorded), "the log folds to other executions than were recorded"
    for execution_id, expected in recorded.items():
        got = folded[execution_id]
        # Compared as JSON for a readable difference; the models compare the same way.
        assert got.model_dump(mode="json") == expected.model_dump(mode="json"), \
            f"{version.name}/{case.name}: execution {execution_id} folds differently than when it was recorded"


@pytest.mark.parametrize(("version", "case"), _RECORDED, ids=[f"{v.name}-{c.name}" for v, c in _RECORDED])
def test_a_corpus_holds_only_records_of_its_own_version(version: Path, case: Path) -> None:
    number = int(version.name.removeprefix("v"))
    for name in ("events.jsonl", "states.jsonl"):
        versions = {_version_of(line) for line in (case / name).read_text().splitlines()}
        assert versions == {number}, f"{case}/{name} holds records of versions {versions}, not only {number}"


def test_every_version_has_a_corpus_and_the_current_one_every_case() -> None:
    # Cases added later cannot be recorded by an earlier version: only the current corpus has them all.
    for number in range(WIRE_VERSION + 1):
        assert any((CORPUS / f"v{number}").glob("*/events.jsonl")), f"wire format version {number} has no corpus"
    current = {case.name for case in (CORPUS / f"v{WIRE_VERSION}").iterdir() if case.is_dir()}
    assert current == {case.name for case in CASES}, f"corpus v{WIRE_VERSION} misses or has extra cases"
