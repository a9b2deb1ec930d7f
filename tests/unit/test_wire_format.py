"""The versioned wire format: one codec per record kind, reading every version up to its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import EVENT_ADAPTER, RecordUnreadable, TaskResult
from kestra_stream.executor.memory import MemoryExecutor
from kestra_stream.executor.runtime import ManualClock
from kestra_stream.executor.wire import EVENTS, JOBS, WIRE_VERSION, Codec, UnreadableRecord
from kestra_stream.models.state import StateType
from tests.unit.test_executor_runtime import LOGS_FLOW, Revisions, created, succeed

AT = datetime(2026, 1, 1, tzinfo=UTC)
RESULT = TaskResult(event_id="e1", execution_id="x1", at=AT, taskrun_id="t1", attempt=1, state=StateType.SUCCESS,
                    outputs={"value": 42})


def test_a_record_names_its_version_first_and_reads_back_the_same() -> None:
    encoded = EVENTS.encode(RESULT)
    assert encoded.startswith(b'{"v":%d,' % WIRE_VERSION)
    assert json.loads(encoded)["v"] == WIRE_VERSION
    assert EVENTS.decode(encoded) == RESULT
    assert EVENTS.decode(encoded.decode()) == RESULT  # SQLite keeps text


def test_a_record_written_before_versions_existed_is_version_zero_and_still_reads() -> None:
    unversioned = EVENT_ADAPTER.dump_json(RESULT)
    assert b'"v"' not in unversioned
    assert EVENTS.decode(unversioned) == RESULT


def test_a_record_of_a_newer_version_is_refused_naming_both_versions() -> None:
    newer = json.dumps({"v": WIRE_VERSION + 1, **json.loads(EVENT_ADAPTER.dump_json(RESULT))}).encode()
    with pytest.raises(UnreadableRecord, match=f"version {WIRE_VERSION + 1}, newer than this version's "
                                               f"{WIRE_VERSION}: upgrade this component") as refused:
        EVENTS.decode(newer)
    assert refused.value.version == WIRE_VERSION + 1


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x00garbage", "not JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'{"v": "one"}', "is not a version number"),
    (b'{"v":1,"kind":"task_result"}', "validation error(s)"),
    (b'{"kind":"teleported","event_id":"e","execution_id":"x","at":"2026-01-01T00:00:00Z"}', "validation error(s)"),
])
def test_a_record_no_version_reads_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableRecord, match="unreadable event record: .*" + reason.replace("(", r"\(")
                       .replace(")", r"\)")):
        EVENTS.decode(data)


def test_an_older_record_is_upgraded_step_by_step_before_it_is_validated() -> None:
    # A codec one version ahead, as the next change of the format will write it: version 0 said "value".
    def renamed(obj: dict[str, Any]) -> dict[str, Any]:
        return {"answer" if k == "value" else k: v for k, v in obj.items()}

    steps = {v: (renamed if v == 0 else (lambda obj: obj)) for v in range(WIRE_VERSION)}
    codec = Codec("answer", TypeAdapter(dict[str, int]), steps)
    assert codec.decode(b'{"value": 1}') == {"answer": 1}
    assert codec.decode(codec.encode({"answer": 2})) == {"answer": 2}


def test_a_codec_without_a_step_from_every_older_version_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="no upgrade from version"):
        Codec("job", TypeAdapter(RunTask), {})


async def test_jobs_carry_the_version_too() -> None:
    clock = ManualClock()
    flows = Revisions(clock)
    flows.add(LOGS_FLOW, 1)
    executor = MemoryExecutor(flows, clock=clock)
    await executor.run(created("two_logs"))
    first = executor.jobs[0]
    assert JOBS.encode(first).startswith(b'{"v":%d,' % WIRE_VERSION)
    assert JOBS.decode(JOBS.encode(first)) == first


async def test_an_unreadable_record_fails_a_running_execution_at_the_time_it_was_refused() -> None:
    clock = ManualClock()
    flows = Revisions(clock)
    flows.add(LOGS_FLOW, 1)
    executor = MemoryExecutor(flows, clock=clock)  # no worker: the first task stays RUNNING
    await executor.run(created("two_logs"))
    refused_at = datetime(2026, 6, 1, tzinfo=UTC)
    await executor.run(RecordUnreadable(event_id="u1", execution_id="x1", at=refused_at,
                                        reason="written by wire format version 99"))
    execution = executor.states["x1"].execution
    assert execution.state.current is StateType.FAILED
    assert execution.state.end_date == refused_at  # the event's time, not the clock's: a replay decides the same
    assert [tr.current for tr in execution.taskruns_of("a")] == [StateType.FAILED]
    assert any("could not be read by this version of the executor (written by wire format version 99)"
               in entry.message for entry in executor.logs)


async def test_an_unreadable_record_leaves_an_ended_or_unknown_execution_as_it_is() -> None:
    clock = ManualClock()
    flows = Revisions(clock)
    flows.add(LOGS_FLOW, 1)
    executor = MemoryExecutor(flows, worker=succeed, clock=clock)
    await executor.run(created("two_logs"))
    ended = executor.states["x1"]
    await executor.run(RecordUnreadable(event_id="u1", execution_id="x1", at=AT, reason="r"),
                       RecordUnreadable(event_id="u2", execution_id="nobody", at=AT, reason="r"))
    assert executor.states["x1"] is ended and ended.execution.state.current is StateType.SUCCESS
    assert "nobody" not in executor.states
