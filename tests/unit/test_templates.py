"""Kestra's flow templates: stored in internal storage, injected where the executor reads a flow, run as a sequence.

Storage is a real local directory; the executor is the in-memory one (no broker, no sleep).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_stream.errors import BackendError, FlowValidationError
from kestra_stream.executor._index import index_of
from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import ExecutionCreated, TaskResult
from kestra_stream.executor.memory import MemoryExecutor
from kestra_stream.executor.runtime import ManualClock
from kestra_stream.flows import load_flow, load_template
from kestra_stream.ids import derive_id
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType
from kestra_stream.storage import LocalStorage, templates_uri
from kestra_stream.templates import (
    FlowTemplate,
    Included,
    TemplateInjector,
    TemplateStore,
    TemplateTask,
    inject_templates,
    template_injector,
)

AT = ManualClock().now()

TEMPLATE = """\
id: shared
namespace: company.team
description: reused steps
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ parent.outputs.args.name }}"
errors:
  - id: template_handler
    type: io.kestra.plugin.core.log.Log
    message: handled
"""

FLOW = """\
id: includes
namespace: company.team
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: before
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: included
        type: io.kestra.plugin.core.flow.Template
        namespace: company.team
        templateId: shared
        args:
          name: "{{ flow.id }}"
          count: "{{ 40 + 2 }}"
        errors:
          - id: own_handler
            type: io.kestra.plugin.core.log.Log
            message: own
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after
"""

PLAIN = """\
id: plain
namespace: company.team
tasks:
  - id: only
    type: io.kestra.plugin.core.log.Log
    message: plain
"""


@pytest.fixture(autouse=True)
def _templates_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESTRA_STREAM_TEMPLATES_ENABLED", "true")


class Flows:
    def __init__(self, *sources: str) -> None:
        self.flows = {(f.namespace, f.id): f for f in (load_flow(s) for s in sources)}

    def get(self, namespace: str, flow_id: str, revision: int | None) -> tuple[Flow, int]:
        found = self.flows.get((namespace, flow_id))
        if found is None:
            raise BackendError(f"no flow {namespace}.{flow_id}")
        return found, 1


def _included(flow: Flow) -> TemplateTask:
    task = index_of(flow).task("included")
    assert isinstance(task, TemplateTask)
    return task


def test_injection_gives_the_template_task_its_template_wherever_it_is_and_the_executor_index_finds_its_tasks(
        ) -> None:
    flow = load_flow(FLOW)
    template = load_template(TEMPLATE)

    injected = inject_templates(flow, {"company.team.shared": Included(template)})

    task = _included(injected)
    assert task.included is not None and task.included.template is template
    assert [t.id for t in task.branches()["tasks"]] == ["greet"]
    # The template's errors run first, then the task's own.
    assert [t.id for t in task.errors or ()] == ["template_handler", "own_handler"]
    assert {"greet", "template_handler", "own_handler"} <= set(index_of(injected).tasks)
    assert "template_handler" in index_of(injected).handler_ids
    assert _included(flow).included is None  # the flow read from the store is left as it was
    assert injected.source == flow.source


def test_a_template_task_in_the_errors_of_another_gets_its_template_too() -> None:
    flow = load_flow(FLOW.replace("""          - id: own_handler
            type: io.kestra.plugin.core.log.Log
            message: own""", """          - id: handler_template
            type: io.kestra.plugin.core.flow.Template
            namespace: company.team
            templateId: handlers"""))
    handlers = load_template("id: handlers\nnamespace: company.team\ntasks:\n  - id: notify\n"
                             "    type: io.kestra.plugin.core.log.Log\n    message: notified\n")

    injected = inject_templates(flow, {"company.team.shared": Included(load_template(TEMPLATE)),
                                       "company.team.handlers": Included(handlers)})

    handler = index_of(injected).task("handler_template")
    assert isinstance(handler, TemplateTask) and handler.included == Included(handlers)
    assert "notify" in index_of(injected).tasks


def test_a_missing_template_leaves_the_reason_its_task_fails_with() -> None:
    injected = inject_templates(load_flow(FLOW), {})

    task = _included(injected)
    assert task.included is not None and task.included.template is None
    assert task.included.reason == "Can't find flow template 'company.team.shared'"
    assert task.branches() == {}


def test_a_template_including_itself_is_refused_with_its_chain() -> None:
    looping = load_template(TEMPLATE.replace("""  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ parent.outputs.args.name }}"
""", """  - id: again
    type: io.kestra.plugin.core.flow.Template
    namespace: company.team
    templateId: shared
"""))

    injected = inject_templates(load_flow(FLOW), {"company.team.shared": Included(looping)})

    outer = _included(injected)
    assert outer.included is not None and outer.included.template is not None
    inner = outer.included.template.tasks[0]
    assert isinstance(inner, TemplateTask) and inner.included is not None
    assert inner.included.template is None
    assert "it includes itself" in (inner.included.reason or "")


def test_a_template_whose_task_ids_the_flow_already_uses_is_refused_naming_them() -> None:
    clashing = load_template(TEMPLATE.replace("id: greet", "id: after"))

    injected = inject_templates(load_flow(FLOW), {"company.team.shared": Included(clashing)})

    task = _included(injected)
    assert task.included is not None and task.included.template is None
    assert "its task ids after are used more than once in flow company.team.includes" in (task.included.reason or "")


def test_a_template_is_validated_as_a_flow_is_with_the_line_of_each_problem() -> None:
    with pytest.raises(FlowValidationError) as caught:
        load_template("id: bad\nnamespace: company.team\ntasks:\n  - id: x\n    type: io.kestra.plugin.core.log.Lg\n")
    (problem,) = caught.value.problems
    assert problem.line == 5 and "io.kestra.plugin.core.log.Lg" in problem.message
    with pytest.raises(FlowValidationError, match="missing required property 'tasks'"):
        load_template("id: empty\nnamespace: company.team\n")


async def test_the_store_keeps_each_template_source_under_its_namespace_in_internal_storage(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    store = TemplateStore(storage)

    saved = await store.save(TEMPLATE)

    assert isinstance(saved, FlowTemplate) and saved.uid == "company.team.shared"
    assert (tmp_path / "company" / "team" / "_templates" / "shared.yaml").read_text() == TEMPLATE
    assert await storage.exists(templates_uri("company.team", "shared"))
    again = await store.get("company.team", "shared")
    assert again is not None and again.source == TEMPLATE and again.description == "reused steps"
    assert await store.ids("company.team") == ["shared"]
    assert await store.get("company.team", "other") is None
    assert await store.delete("company.team", "shared") is True
    assert await store.get("company.team", "shared") is None


async def test_the_injector_returns_a_flow_without_templates_as_it_is_and_reuses_an_injected_flow(
        tmp_path: Path) -> None:
    store = TemplateStore(LocalStorage(tmp_path))
    await store.save(TEMPLATE)
    injector = TemplateInjector(store)
    plain, flow = load_flow(PLAIN), load_flow(FLOW)

    assert await injector.inject(plain) is plain
    first = await injector.inject(flow)
    assert first is not flow and _included(first).included is not None
    assert await injector.inject(flow) is first  # same templates: the same flow, whose index is built once
    await store.save(TEMPLATE.replace("reused steps", "changed"))
    changed = await injector.inject(flow)
    assert changed is not first
    template = _included(changed).included
    assert template is not None and template.template is not None and template.template.description == "changed"


def test_no_injector_while_templates_are_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KESTRA_STREAM_TEMPLATES_ENABLED")
    assert template_injector(LocalStorage(tmp_path)) is None
    assert template_injector(LocalStorage(tmp_path), environ={"KESTRA_STREAM_TEMPLATES_ENABLED": "true"}) is not None


def _succeed(job: RunTask) -> TaskResult:
    return TaskResult(event_id=derive_id("result", job.job_id), execution_id=job.execution_id, at=AT,
                      taskrun_id=job.taskrun_id, attempt=job.attempt, state=StateType.SUCCESS)


def _created(flow_id: str) -> ExecutionCreated:
    return ExecutionCreated(event_id=f"created-{flow_id}", execution_id=flow_id, at=AT, namespace="company.team",
                            flow_id=flow_id, flow_revision=1)


async def test_the_executor_runs_the_template_tasks_as_children_reading_the_rendered_args(tmp_path: Path) -> None:
    store = TemplateStore(LocalStorage(tmp_path))
    await store.save(TEMPLATE)
    ex = MemoryExecutor(Flows(FLOW), worker=_succeed, templates=TemplateInjector(store))

    await ex.run(_created("includes"))

    execution = ex.states["includes"].execution
    assert execution.state.current is StateType.SUCCESS
    assert [tr.task_id for tr in execution.task_run_list] == ["before", "group", "included", "greet", "after"]
    [included] = execution.taskruns_of("included")
    assert included.outputs == {"args": {"name": "includes", "count": "42"}}  # text, as Kestra renders them
    [greet] = execution.taskruns_of("greet")
    assert greet.parent_task_run_id == included.id
    [job] = [j for j in ex.jobs if j.task.id == "greet"]
    assert job.variables["parent"]["outputs"] == {"args": {"name": "includes", "count": "42"}}


async def test_the_executor_fails_a_template_task_whose_template_is_missing_with_kestras_message(
        tmp_path: Path) -> None:
    ex = MemoryExecutor(Flows(FLOW), worker=_succeed, templates=TemplateInjector(TemplateStore(LocalStorage(tmp_path))))

    await ex.run(_created("includes"))

    execution = ex.states["includes"].execution
    assert execution.state.current is StateType.FAILED
    assert [tr.current for tr in execution.taskruns_of("included")] == [StateType.FAILED]
    assert execution.taskruns_of("after") == []
    [line] = [e for e in ex.logs if e.task_id == "included"]
    assert line.message.endswith("Can't find flow template 'company.team.shared'")


class _Unreachable(LocalStorage):
    """Local storage whose first reads fail, as MinIO away would."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    async def get(self, uri: str) -> bytes:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("storage unreachable (simulated outage)")
        return await super().get(uri)


async def test_templates_unreadable_for_a_while_are_read_again_not_a_failed_execution(tmp_path: Path) -> None:
    storage = _Unreachable(tmp_path, failures=3)
    store = TemplateStore(storage)
    await store.save(TEMPLATE)
    ex = MemoryExecutor(Flows(FLOW), worker=_succeed, templates=TemplateInjector(store))

    await ex.run(_created("includes"))

    assert storage.failures == 0
    assert ex.states["includes"].execution.state.current is StateType.SUCCESS
    assert ex.runtime.template_reads.failing is False


def test_cli_validates_then_deploys_templates_into_the_servers_internal_storage(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kestra_stream.cli import main

    good, bad = tmp_path / "shared.yaml", tmp_path / "bad" / "bad.yaml"
    good.write_text(TEMPLATE)
    bad.parent.mkdir()
    bad.write_text("id: bad\nnamespace: company.team\ntasks: []\n")
    runner = CliRunner()
    home = tmp_path / "home"

    ok = runner.invoke(main, ["template", "validate", str(good)])
    assert ok.exit_code == 0 and ok.stdout.strip() == "OK company.team.shared"
    refused = runner.invoke(main, ["template", "deploy", str(good), str(bad), "--home", str(home)])
    assert refused.exit_code == 1 and "bad.yaml:3" in refused.stdout
    assert not (home / "storage" / "company").exists()  # nothing saved unless every template is valid
    deployed = runner.invoke(main, ["template", "deploy", str(good), "--home", str(home)])
    assert deployed.exit_code == 0 and deployed.stdout.strip() == "company.team.shared saved"
    assert (home / "storage" / "company" / "team" / "_templates" / "shared.yaml").read_text() == TEMPLATE
    off = runner.invoke(main, ["template", "validate", str(good)], env={"KESTRA_STREAM_TEMPLATES_ENABLED": ""})
    assert off.exit_code == 1 and "templates are off" in off.stderr


async def test_a_pause_a_template_included_is_resumed_with_its_on_resume_inputs(tmp_path: Path) -> None:
    from kestra_stream.embedded import EmbeddedEngine
    from tests._waiting import until

    approval = """\
id: approval
namespace: company.team
tasks:
  - id: approve
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: reviewer
        type: STRING
  - id: approved
    type: io.kestra.plugin.core.log.Log
    message: "approved by {{ outputs.approve.onResume.reviewer }}"
"""
    async with EmbeddedEngine(tmp_path / "home") as engine:
        await TemplateStore(engine.storage).save(approval)
        engine.deploy(FLOW.replace("templateId: shared", "templateId: approval"))
        execution_id = await engine.create_execution("company.team", "includes")
        await until(lambda: (state := engine.state(execution_id)) is not None
                    and state.execution.state.current is StateType.PAUSED, "paused in the template")

        await engine.resume(execution_id, {"reviewer": "Ada"})
        execution = await engine.wait(execution_id, timeout=30)

    assert execution.state.current is StateType.SUCCESS
    assert [tr.current for tr in execution.taskruns_of("approved")] == [StateType.SUCCESS]
    [approve] = execution.taskruns_of("approve")
    assert approve.outputs == {"onResume": {"reviewer": "Ada"}}
