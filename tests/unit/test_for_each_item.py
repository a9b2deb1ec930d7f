"""ForEachItem: its properties, the split of rows into batches, and the fold of its batches' subflow executions."""

from __future__ import annotations

import textwrap
from typing import Any

import kestra_stream_plugin_core as core
import pytest
from kestra_stream_plugin_core.storage import split_rows
from pydantic import ValidationError

from kestra_stream.executor._batches import iteration_counts, terminal_state
from kestra_stream.executor.commands import ExecutionStarted, KillExecution, StartSubflow
from kestra_stream.executor.events import SubflowEnded, SubflowStarted
from kestra_stream.executor.plan import plan_effects
from kestra_stream.flows import load_flow
from kestra_stream.flows.catalog import FlowCatalog
from kestra_stream.models.execution import ParentLink
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType
from tests.unit.fold_driver import Driver

OK, FAILED = StateType.SUCCESS, StateType.FAILED
BASE = {"id": "each", "type": "io.kestra.plugin.core.flow.ForEachItem", "items": "{{ inputs.file }}",
        "namespace": "company.team", "flowId": "child"}


def _flow(extra: str = "") -> Flow:
    return load_flow(textwrap.dedent("""\
        id: parent
        namespace: company.team
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEachItem
            items: "{{ inputs.file }}"
            namespace: company.team
            flowId: child
            inputs:
              items: "{{ taskrun.items }}"
              n: "{{ taskrun.iteration }}"
        """) + textwrap.indent(textwrap.dedent(extra), "    "))


def _through_split(d: Driver, batches: list[str]) -> list[StartSubflow]:
    d.create(inputs={"file": "kestra:///company/team/parent/executions/x/inputs/file/f.txt"})
    commands = d.result(d.job("each_split"), OK, outputs={"splits": "kestra:///s.txt", "batches": batches})
    return [c for c in commands if isinstance(c, StartSubflow)]


def test_the_three_internal_tasks_carry_kestras_ids_and_types() -> None:
    task = core.ForEachItem.model_validate(BASE)
    ids = [(t.id, t.type) for t in task.branches()["tasks"]]
    assert ids == [("each_split", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemSplit"),
                   ("each_items", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemExecutable"),
                   ("each_merge", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemMergeOutputs")]


@pytest.mark.parametrize(("extra", "message"), [
    ({"batch": {"rows": 2, "bytes": "1KB"}}, "not rows and bytes"),
    ({"batch": {"bytes": "lots"}}, "not a size"),
    ({"batch": {"partitions": 0}}, "1 or more"),
    ({"batch": {"rows": "many"}}, "neither a number nor an expression"),
    ({"scheduleDate": "2025-01-01T00:00:00Z"}, "scheduleDate"),
    ({"finally": [{"id": "l", "type": "io.kestra.plugin.core.log.Log", "message": "x"}]}, "not finally"),
    ({"restartBehavior": "NEW_EXECUTION"}, "restartBehavior"),
    ({"tasks": []}, "tasks"),
])
def test_properties_it_does_not_take_are_refused_with_the_reason(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        core.ForEachItem.model_validate({**BASE, **extra})


def test_split_rows_cuts_by_rows_partitions_or_size_without_cutting_a_row() -> None:
    lines = [f"{n}\n".encode() for n in range(1, 11)]
    assert split_rows(lines, rows=4) == [b"1\n2\n3\n4\n", b"5\n6\n7\n8\n", b"9\n10\n"]
    assert split_rows(lines, partitions=3) == [b"1\n4\n7\n10\n", b"2\n5\n8\n", b"3\n6\n9\n"]
    assert split_rows(lines, partitions=20) == [f"{n}\n".encode() for n in range(1, 11)]
    assert split_rows(lines, limit=6) == [b"1\n2\n3\n", b"4\n5\n6\n", b"7\n8\n9\n", b"10\n"]
    assert split_rows([], rows=1) == []


def test_iterations_count_each_child_in_the_last_state_its_parent_heard_of() -> None:
    results = {"1": {"state": "SUCCESS"}, "3": {"state": "FAILED"}}
    assert iteration_counts(5, [], results) == {"CREATED": 3, "RUNNING": 0, "SUCCESS": 1, "FAILED": 1}
    # 1 started then ended: it counts once, as SUCCESS
    assert iteration_counts(5, ["1", "2", "4"], results) == {"CREATED": 1, "RUNNING": 2, "SUCCESS": 1, "FAILED": 1}


def _started(d: Driver, start: StartSubflow) -> None:
    d.send(SubflowStarted(event_id=d.next_event_id(), execution_id=d.execution_id, at=d.now,
                          taskrun_id=start.parent.taskrun_id, child_execution_id=start.child_execution_id))


def test_the_batches_count_running_live_as_each_child_reports_its_start() -> None:
    d = Driver(_flow())
    starts = _through_split(d, ["kestra:///b1.txt", "kestra:///b2.txt", "kestra:///b3.txt"])
    assert all(s.parent.report_start for s in starts)
    _started(d, starts[0])
    _started(d, starts[2])
    _started(d, starts[2])  # told twice
    assert d.taskrun("each_items").outputs["iterations"] == {"CREATED": 1, "RUNNING": 2}  # type: ignore[index]
    d.subflow_ended(starts[0].child_execution_id, OK)
    d.subflow_ended(starts[1].child_execution_id, OK)  # its start was never heard of: it ended all the same
    _started(d, starts[1])  # ... and its start, arriving late, changes nothing
    assert d.taskrun("each_items").outputs["iterations"] == {  # type: ignore[index]
        "CREATED": 0, "RUNNING": 1, "SUCCESS": 2}


def test_a_child_that_reports_its_start_tells_its_parent_once_when_it_begins_to_run() -> None:
    child = load_flow("id: child\nnamespace: company.team\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                      "    message: hi\n")
    link = ParentLink(execution_id="parent-1", taskrun_id="tr-1", namespace="company.team", flow_id="parent",
                      report_start=True)
    d = Driver(child, execution_id="child-1")
    started = [c for c in d.create(parent=link) if isinstance(c, ExecutionStarted)]
    assert [(c.execution_id, c.parent.taskrun_id) for c in started] == [("child-1", "tr-1")]
    effects = plan_effects("e1", d.state, started, child, FlowCatalog(), d.now)
    assert [(e.execution_id, e.taskrun_id, e.child_execution_id) for e in effects.events  # type: ignore[union-attr]
            ] == [("parent-1", "tr-1", "child-1")]
    assert not [c for c in d.result(d.job("t"), OK) if isinstance(c, ExecutionStarted)]


def test_a_plain_subflow_child_does_not_report_its_start() -> None:
    child = load_flow("id: child\nnamespace: company.team\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                      "    message: hi\n")
    link = ParentLink(execution_id="parent-1", taskrun_id="tr-1", namespace="company.team", flow_id="parent")
    assert not [c for c in Driver(child, execution_id="c").create(parent=link) if isinstance(c, ExecutionStarted)]


@pytest.mark.parametrize(("states", "transmit", "expected"), [
    (["SUCCESS", "WARNING"], True, StateType.WARNING),
    (["KILLED", "FAILED"], True, StateType.FAILED),
    (["SUCCESS", "KILLED"], True, StateType.KILLED),
    (["FAILED", "KILLED"], False, StateType.SUCCESS),
    (["SUCCESS"], True, StateType.SUCCESS),
])
def test_the_batches_end_in_the_worst_childs_state_only_with_transmit_failed(
        states: list[str], transmit: bool, expected: StateType) -> None:
    results = {str(i): {"state": s} for i, s in enumerate(states, start=1)}
    assert terminal_state(results, transmit) == expected


def test_one_child_per_batch_with_its_uri_and_iteration_then_merge_once_all_ended() -> None:
    d = Driver(_flow())
    starts = _through_split(d, ["kestra:///b1.txt", "kestra:///b2.txt", "kestra:///b3.txt"])
    assert [(s.inputs, s.parent.taskrun_id, s.parent.wait) for s in starts] == [
        ({"items": f"kestra:///b{n}.txt", "n": n}, d.taskrun("each_items").id, True) for n in (1, 2, 3)]
    assert len({s.child_execution_id for s in starts}) == 3
    d.subflow_ended(starts[1].child_execution_id, OK, outputs={"v": 2})
    d.send(SubflowEnded(event_id=d.next_event_id(), execution_id=d.execution_id, at=d.now,  # told twice
                        taskrun_id=starts[1].parent.taskrun_id, child_execution_id=starts[1].child_execution_id,
                        state=OK, outputs={"v": 2}))
    items = d.taskrun("each_items")
    assert items.current == StateType.RUNNING
    assert items.outputs is not None and items.outputs["iterations"] == {"CREATED": 2, "RUNNING": 0, "SUCCESS": 1}
    d.subflow_ended(starts[0].child_execution_id, OK, outputs={"v": 1})
    d.subflow_ended(starts[2].child_execution_id, StateType.WARNING)
    items = d.taskrun("each_items")
    assert items.current == StateType.WARNING
    assert items.outputs is not None and items.outputs["numberOfBatches"] == 3
    assert items.outputs["iterations"] == {"CREATED": 0, "RUNNING": 0, "SUCCESS": 2, "WARNING": 1}
    merge = d.job("each_merge")
    assert merge.variables["outputs"]["each_items"]["results"]["1"]["outputs"] == {"v": 1}
    d.result(merge, OK, outputs={"subflowOutputs": "kestra:///m.ion"})
    assert d.execution.state.current == StateType.WARNING


def test_a_failed_batch_with_transmit_failed_fails_the_task_without_merging() -> None:
    d = Driver(_flow())
    starts = _through_split(d, ["kestra:///b1.txt", "kestra:///b2.txt"])
    d.subflow_ended(starts[0].child_execution_id, FAILED)
    assert d.taskrun("each_items").current == StateType.RUNNING  # the other batch still runs
    d.subflow_ended(starts[1].child_execution_id, OK)
    assert d.taskrun("each_items").current == FAILED
    assert d.execution.state.current == FAILED
    assert not [tr for tr in d.execution.task_run_list if tr.task_id == "each_merge"]


def test_without_wait_the_children_start_and_the_task_succeeds_at_once() -> None:
    d = Driver(_flow("wait: false\n"))
    starts = _through_split(d, ["kestra:///b1.txt", "kestra:///b2.txt"])
    assert [s.parent.wait for s in starts] == [False, False]
    items = d.taskrun("each_items")
    assert items.current == OK
    assert items.outputs is not None and items.outputs["iterations"] == {"RUNNING": 0, "SUCCESS": 2}


def test_an_empty_file_starts_nothing_and_succeeds() -> None:
    d = Driver(_flow())
    assert _through_split(d, []) == []
    assert d.taskrun("each_items").current == OK
    assert d.taskrun("each_items").outputs is None


def test_killing_the_parent_kills_the_children_still_running() -> None:
    d = Driver(_flow())
    starts = _through_split(d, ["kestra:///b1.txt", "kestra:///b2.txt"])
    d.subflow_ended(starts[0].child_execution_id, OK)
    killed = [c.execution_id for c in d.kill() if isinstance(c, KillExecution)]
    assert killed == [starts[1].child_execution_id]
    assert d.execution.state.current == StateType.KILLED
