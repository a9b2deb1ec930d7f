"""The runnable core tasks against a fake RunContext built on the real protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core
import pytest
from test_core_plugins_fakes import FakeRunContext

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask


def _task(cls: type[PluginModel], **raw: Any) -> RunnableTask:
    assert cls.plugin is not None
    task = cls.model_validate({"type": cls.plugin.type, "id": "t", **raw})
    assert isinstance(task, RunnableTask)
    return task


@pytest.fixture
def ctx(tmp_path: Path) -> FakeRunContext:
    return FakeRunContext(
        tmp_path, vars={"inputs": {"name": "Kafka", "n": 3, "flag": False}, "flow": {"id": "hello"}}
    )


def _as_run_context(ctx: FakeRunContext) -> RunContext:
    return ctx


async def test_log_renders_and_logs_one_message_at_its_level(ctx: FakeRunContext) -> None:
    outputs = await _task(core.Log, message="Hello {{ inputs.name }}", level="ERROR").run(
        _as_run_context(ctx)
    )
    assert outputs is None
    assert ctx.logs == [(LogLevel.ERROR, "Hello Kafka")]


async def test_log_logs_each_message_of_a_list_in_order(ctx: FakeRunContext) -> None:
    await _task(core.Log, message=["a {{ flow.id }}", "b"]).run(ctx)
    assert ctx.logs == [(LogLevel.INFO, "a hello"), (LogLevel.INFO, "b")]


async def test_echo_logs_its_rendered_format(ctx: FakeRunContext) -> None:
    await _task(core.Echo, format="n={{ inputs.n }}", level="DEBUG").run(ctx)
    assert ctx.logs == [(LogLevel.DEBUG, "n=3")]


async def test_return_outputs_its_rendered_format_as_text(ctx: FakeRunContext) -> None:
    assert await _task(core.Return, format="{{ inputs.n }}").run(ctx) == {"value": "3"}


async def test_return_without_format_outputs_no_value(ctx: FakeRunContext) -> None:
    assert await _task(core.Return).run(ctx) == {"value": None}


async def test_output_values_renders_templated_strings_to_text_and_keeps_written_values(
        ctx: FakeRunContext) -> None:
    outputs = await _task(
        core.OutputValues,
        values={
            "who": "{{ inputs.name }}",
            "n": "{{ inputs.n }}",
            "written": 7,
            "flag": True,
            "docs": '["d1", "d2"]',
            "nested": {"a": ["{{ flow.id }}", 2]},
        },
    ).run(ctx)
    assert outputs == {"values": {"who": "Kafka", "n": "3", "written": 7, "flag": True, "docs": '["d1", "d2"]',
                                  "nested": {"a": ["hello", 2]}}}


async def test_output_values_without_values_outputs_an_empty_map(ctx: FakeRunContext) -> None:
    assert await _task(core.OutputValues).run(ctx) == {"values": {}}


async def test_fail_without_condition_fails_with_the_default_message(ctx: FakeRunContext) -> None:
    with pytest.raises(TaskFailure, match=r"^Task failure$") as info:
        await _task(core.Fail).run(ctx)
    assert info.value.task_id == "t"


async def test_fail_renders_its_error_message(ctx: FakeRunContext) -> None:
    with pytest.raises(TaskFailure, match=r"^bad input Kafka$"):
        await _task(core.Fail, errorMessage="bad input {{ inputs.name }}").run(ctx)


@pytest.mark.parametrize("condition", ["true", "{{ inputs.n }}", "yes", True, 1])
async def test_fail_fails_when_its_condition_renders_truthy(ctx: FakeRunContext, condition: Any) -> None:
    with pytest.raises(TaskFailure):
        await _task(core.Fail, condition=condition).run(ctx)


@pytest.mark.parametrize("condition", ["false", "False", "0", "", "{{ inputs.flag }}", False])
async def test_fail_succeeds_when_its_condition_renders_falsy(ctx: FakeRunContext, condition: Any) -> None:
    assert await _task(core.Fail, condition=condition).run(ctx) is None


async def test_labels_map_is_rendered_and_handed_to_the_execution(ctx: FakeRunContext) -> None:
    await _task(core.Labels, labels={"who": "{{ inputs.name }}", "n": 3}).run(ctx)
    assert ctx.labels == {"who": "Kafka", "n": "3"}


async def test_labels_list_of_key_value_is_rendered(ctx: FakeRunContext) -> None:
    await _task(core.Labels, labels=[{"key": "flow", "value": "{{ flow.id }}"}]).run(ctx)
    assert ctx.labels == {"flow": "hello"}


async def test_labels_json_text_is_parsed_after_rendering(ctx: FakeRunContext) -> None:
    await _task(core.Labels, labels='{"who": "{{ inputs.name }}"}').run(ctx)
    assert ctx.labels == {"who": "Kafka"}


async def test_labels_text_that_is_not_a_json_object_fails_clearly(ctx: FakeRunContext) -> None:
    with pytest.raises(TaskFailure, match="not a JSON object"):
        await _task(core.Labels, labels="team=data").run(ctx)
    assert ctx.labels == {}


async def test_labels_refuse_system_labels(ctx: FakeRunContext) -> None:
    with pytest.raises(TaskFailure, match=r"system\.correlationId"):
        await _task(core.Labels, labels={"system.correlationId": "x", "ok": "y"}).run(ctx)
    assert ctx.labels == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (None, False),
        (0, False),
        (2.5, True),
        ("true", True),
        ("FALSE", False),
        ("-0", False),
        (" ", False),
        ("no", True),
        ([], False),
        ({"a": 1}, True),
    ],
)
def test_truthiness_follows_kestra(value: Any, expected: bool) -> None:
    assert core.is_truthy(value) is expected
