"""Each flowable's ``resolve`` asks the FlowableContext for the right shape with the right arguments."""

from __future__ import annotations

from typing import Any

import kestra_stream_plugin_core as core
import pytest
from test_core_plugins_fakes import MARKER, RecordingFlowableContext

from kestra_stream.executor.flowables import WAIT, Done, Start
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.state import StateType
from kestra_stream.models.task import FlowableTask


def _log(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "type": "io.kestra.plugin.core.log.Log", "message": task_id}


def _flowable(cls: type[PluginModel], **raw: Any) -> FlowableTask:
    assert cls.plugin is not None
    task = cls.model_validate({"type": cls.plugin.type, "id": "f", **raw})
    assert isinstance(task, FlowableTask)
    return task


@pytest.fixture
def ctx() -> RecordingFlowableContext:
    return RecordingFlowableContext(
        vars={
            "inputs": {"kind": "B", "rows": 1000, "zero": 0},
            "outputs": {"docs": {"values": {"ids": '["d1", "d2"]'}}},
        }
    )


def test_sequential_runs_its_tasks_in_sequence(ctx: RecordingFlowableContext) -> None:
    assert _flowable(core.Sequential, tasks=[_log("a"), _log("b")]).resolve(ctx) is MARKER
    assert ctx.calls == [("sequence", ["a", "b"])]


def test_parallel_passes_its_concurrency(ctx: RecordingFlowableContext) -> None:
    assert _flowable(core.Parallel, tasks=[_log("a"), _log("b")], concurrent=1).resolve(ctx) is MARKER
    assert ctx.calls == [("parallel", ["a", "b"], 1)]


def test_parallel_is_unbounded_by_default(ctx: RecordingFlowableContext) -> None:
    _flowable(core.Parallel, tasks=[_log("a")]).resolve(ctx)
    assert ctx.calls == [("parallel", ["a"], 0)]


def test_allow_failure_turns_a_failed_sequence_into_warning(ctx: RecordingFlowableContext) -> None:
    ctx.answer = Done(StateType.FAILED)
    assert _flowable(core.AllowFailure, tasks=[_log("a")]).resolve(ctx) == Done(StateType.WARNING)
    assert ctx.calls == [("sequence", ["a"])]


def test_allow_failure_leaves_other_resolutions_alone(ctx: RecordingFlowableContext) -> None:
    ctx.answer = WAIT
    assert _flowable(core.AllowFailure, tasks=[_log("a")]).resolve(ctx) is WAIT


def _if(condition: Any, with_else: bool = True) -> FlowableTask:
    raw: dict[str, Any] = {"condition": condition, "then": [_log("yes")]}
    if with_else:
        raw["else"] = [_log("no")]
    return _flowable(core.If, **raw)


def test_if_runs_then_when_the_condition_renders_true(ctx: RecordingFlowableContext) -> None:
    assert _if("{{ inputs.rows }}").resolve(ctx) == Done(
        StateType.SUCCESS, {"marker": True, "evaluationResult": True}
    )
    assert ctx.calls == [("sequence", ["yes"])]


@pytest.mark.parametrize("condition", ["false", "{{ inputs.zero }}", "", False])
def test_if_runs_else_when_the_condition_renders_false(ctx: RecordingFlowableContext, condition: Any) -> None:
    _if(condition).resolve(ctx)
    assert ctx.calls == [("sequence", ["no"])]


def test_if_without_else_runs_nothing_when_false(ctx: RecordingFlowableContext) -> None:
    _if("false", with_else=False).resolve(ctx)
    assert ctx.calls == [("sequence", [])]


def test_if_only_adds_its_outputs_once_it_is_done(ctx: RecordingFlowableContext) -> None:
    start = Start(())
    ctx.answer = start
    assert _if("true").resolve(ctx) is start


def _switch(**raw: Any) -> FlowableTask:
    return _flowable(core.Switch, **{"value": "{{ inputs.kind }}", **raw})


def test_switch_runs_the_matching_case(ctx: RecordingFlowableContext) -> None:
    result = _switch(cases={"A": [_log("a")], "B": [_log("b")]}, defaults=[_log("d")]).resolve(ctx)
    assert ctx.calls == [("sequence", ["b"])]
    assert result == Done(StateType.SUCCESS, {"marker": True, "value": "B", "defaults": False})


def test_switch_runs_defaults_when_no_case_matches(ctx: RecordingFlowableContext) -> None:
    result = _switch(value="Z", cases={"A": [_log("a")]}, defaults=[_log("d")]).resolve(ctx)
    assert ctx.calls == [("sequence", ["d"])]
    assert isinstance(result, Done) and result.outputs == {"marker": True, "value": "Z", "defaults": True}


def test_switch_fails_when_nothing_matches_and_there_are_no_defaults(ctx: RecordingFlowableContext) -> None:
    result = _switch(value="Z", cases={"A": [_log("a")]}).resolve(ctx)
    assert result == Done(StateType.FAILED, {"value": "Z", "defaults": True})
    assert ctx.calls == []


def test_switch_compares_a_rendered_number_as_text(ctx: RecordingFlowableContext) -> None:
    _switch(value="{{ inputs.rows }}", cases={1000: [_log("big")]}).resolve(ctx)
    assert ctx.calls == [("sequence", ["big"])]


def test_foreach_renders_values_and_runs_groups_one_at_a_time_by_default(
    ctx: RecordingFlowableContext,
) -> None:
    _flowable(core.ForEach, values=["a", "{{ inputs.kind }}"], tasks=[_log("x"), _log("y")]).resolve(ctx)
    assert ctx.calls == [("each", ["a", "B"], ["x", "y"], 1, False)]


def test_foreach_passes_its_concurrency_limit(ctx: RecordingFlowableContext) -> None:
    _flowable(core.ForEach, values='["a", "b"]', concurrencyLimit=0, tasks=[_log("x")]).resolve(ctx)
    assert ctx.calls == [("each", '["a", "b"]', ["x"], 0, False)]


def test_each_sequential_runs_one_value_at_a_time(ctx: RecordingFlowableContext) -> None:
    _flowable(core.EachSequential, value=["a", "b"], tasks=[_log("x")]).resolve(ctx)
    assert ctx.calls == [("each", ["a", "b"], ["x"], 1, False)]


def test_each_parallel_runs_every_value_and_task_at_once(ctx: RecordingFlowableContext) -> None:
    _flowable(core.EachParallel, value="{{ outputs.docs.values.ids }}", tasks=[_log("x"), _log("y")]).resolve(
        ctx
    )
    assert ctx.calls == [("each", '["d1", "d2"]', ["x", "y"], 0, True)]


def test_each_parallel_passes_its_concurrency(ctx: RecordingFlowableContext) -> None:
    _flowable(core.EachParallel, value=["a"], concurrent=3, tasks=[_log("x")]).resolve(ctx)
    assert ctx.calls == [("each", ["a"], ["x"], 3, True)]


def test_dag_hands_each_task_with_its_dependencies(ctx: RecordingFlowableContext) -> None:
    dag = _flowable(
        core.Dag,
        concurrent=2,
        tasks=[
            {"task": _log("extract")},
            {"task": _log("transform"), "dependsOn": ["extract"]},
            {"task": _log("load"), "dependsOn": ["transform", "extract"]},
        ],
    )
    assert dag.resolve(ctx) is MARKER
    assert ctx.calls == [
        ("dag", [("extract", []), ("transform", ["extract"]), ("load", ["transform", "extract"])], 2)
    ]
