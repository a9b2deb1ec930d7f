"""KV tasks (Set, Get, Delete, GetKeys) and the worker's kv(), read() and fileSize() functions, run in the
worker's real TaskRunContext on a temporary LocalStorage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core
import pytest

from kestra_stream.errors import ExpressionError, TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.kv import KVStore
from kestra_stream.models.log import LogEntry
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.task import RunnableTask
from kestra_stream.plugins.registry import PluginKind, PluginRegistry
from kestra_stream.storage import LocalStorage, namespace_files_uri, task_uri
from kestra_stream.worker import TaskRunContext

NS = "company.team"


def _task(cls: type[PluginModel], **raw: Any) -> RunnableTask:
    assert cls.plugin is not None
    task = cls.model_validate({"type": cls.plugin.type, "id": "t", **raw})
    assert isinstance(task, RunnableTask)
    return task


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def _ctx(storage: LocalStorage, tmp_path: Path, task: RunnableTask | None = None,
         trigger: dict[str, Any] | None = None) -> TaskRunContext:
    variables: dict[str, Any] = {"flow": {"id": "flow", "namespace": NS}, "execution": {"id": "E1"},
                                 "task": {"id": "t"}, "inputs": {"key": "answer", "ns": "other.ns"}}
    if trigger is not None:
        variables["trigger"] = trigger
    job = RunTask(execution_id="E1", taskrun_id="R1", attempt=1, task=task or _task(core.Log, message="x"),
                  namespace=NS, flow_id="flow", variables=variables)
    logs: list[LogEntry] = []
    return TaskRunContext(job, emit_log=logs.append, storage=storage, workdir_root=tmp_path / "work", environ={})


async def _run(ctx: TaskRunContext, cls: type[PluginModel], **raw: Any) -> Any:
    return await _task(cls, **raw).run(ctx)


async def test_set_then_get_in_the_flow_namespace_by_default(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    assert await _run(ctx, core.KVSet, key="{{ inputs.key }}", value="{{ 6 * 7 }}") is None
    assert await _run(ctx, core.KVGet, key="answer") == {"value": 42}
    assert await KVStore(storage, NS).value("answer") == 42


async def test_set_with_kv_type_parses_the_rendered_text(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    await _run(ctx, core.KVSet, key="when", value="P1D", kvType="duration")
    await _run(ctx, core.KVSet, key="doc", value='{"a": 1}', kvType="JSON")
    assert await KVStore(storage, NS).value("when") == timedelta(days=1)
    assert await _run(ctx, core.KVGet, key="doc") == {"value": {"a": 1}}
    with pytest.raises(TaskFailure, match="is not a valid NUMBER"):
        await _run(ctx, core.KVSet, key="n", value="many", kvType="NUMBER")


async def test_tasks_reach_another_namespace_when_asked(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    await _run(ctx, core.KVSet, key="k", value="there", namespace="{{ inputs.ns }}")
    assert await _run(ctx, core.KVGet, key="k") == {"value": None}
    assert await _run(ctx, core.KVGet, key="k", namespace="other.ns") == {"value": "there"}
    assert await _run(ctx, core.KVGetKeys, namespace="other.ns") == {"keys": ["k"]}


async def test_set_with_overwrite_false_fails_on_an_existing_key(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    await _run(ctx, core.KVSet, key="k", value="1")
    with pytest.raises(TaskFailure, match="already exists and overwrite is false"):
        await _run(ctx, core.KVSet, key="k", value="2", overwrite=False)


async def test_get_and_delete_fail_on_a_missing_key_only_when_asked(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    assert await _run(ctx, core.KVDelete, key="gone") == {"deleted": False}
    for cls in (core.KVGet, core.KVDelete):
        with pytest.raises(TaskFailure, match=r"No value found for key 'gone' in namespace 'company\.team'"):
            await _run(ctx, cls, key="gone", errorOnMissing=True)
    await _run(ctx, core.KVSet, key="gone", value="v")
    assert await _run(ctx, core.KVDelete, key="gone", errorOnMissing=True) == {"deleted": True}


async def test_get_keys_filters_by_prefix(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    for key in ("my_var", "my_other", "your_var"):
        await _run(ctx, core.KVSet, key=key, value=key)
    assert await _run(ctx, core.KVGetKeys, prefix="my_") == {"keys": ["my_other", "my_var"]}
    assert await _run(ctx, core.KVGetKeys) == {"keys": ["my_other", "my_var", "your_var"]}


async def test_an_expired_key_reads_as_missing_through_the_task(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    two_hours_ago = KVStore(storage, NS, now=lambda: datetime.now(UTC) - timedelta(hours=2))
    await two_hours_ago.set("old", "v", ttl=timedelta(hours=1))
    assert await _run(ctx, core.KVGet, key="old") == {"value": None}


def test_kv_tasks_load_under_kestra_type_names_and_short_names() -> None:
    registry = PluginRegistry.from_entry_points()
    for name, cls in (("io.kestra.plugin.core.kv.Set", core.KVSet), ("kv.Get", core.KVGet),
                      ("io.kestra.plugin.core.kv.Delete", core.KVDelete), ("kv.GetKeys", core.KVGetKeys)):
        assert registry.resolve(PluginKind.TASK, name) is cls


def test_kv_set_refuses_an_unknown_kv_type() -> None:
    with pytest.raises(ValueError, match="kvType"):
        _task(core.KVSet, key="k", value="v", kvType="BLOB")


async def test_kv_function_reads_the_flow_namespace_and_others(storage: LocalStorage, tmp_path: Path) -> None:
    await KVStore(storage, NS).set("answer", 42)
    await KVStore(storage, "other.ns").set("answer", "elsewhere")
    ctx = _ctx(storage, tmp_path)
    assert ctx.render("{{ kv('answer') }}") == 42
    assert ctx.render("{{ kv('answer', 'other.ns') }}") == "elsewhere"
    assert ctx.render("{{ kv(inputs.key, namespace=inputs.ns) }}") == "elsewhere"
    # As in Kestra, a missing key is null unless the caller asks for an error.
    assert ctx.render("{{ kv('missing') }}") is None
    assert ctx.render("{{ kv('missing', errorOnMissing=false) }}") is None
    assert ctx.render("{{ kv('missing') ?? 'fallback' }}") == "fallback"
    with pytest.raises(ExpressionError, match="the key 'missing' does not exist"):
        ctx.render("{{ kv('missing', errorOnMissing=true) }}")


def test_kv_function_works_outside_an_event_loop_too(storage: LocalStorage, tmp_path: Path) -> None:
    ctx = _ctx(storage, tmp_path)
    with pytest.raises(ExpressionError, match="does not exist"):
        ctx.render("{{ kv('missing', errorOnMissing=true) }}")


async def test_read_and_file_size_reach_files_of_the_flow_and_namespace_files(
        storage: LocalStorage, tmp_path: Path) -> None:
    mine = await storage.put(task_uri(NS, "flow", "E0", "other", "R0", "data.txt"), "héllo".encode())
    await storage.put(namespace_files_uri(NS) + "/sql/query.sql", b"select 1")
    ctx = _ctx(storage, tmp_path)
    assert ctx.render("{{ read('" + mine + "') }}") == "héllo"
    assert ctx.render("{{ fileSize('" + mine + "') }}") == 6
    assert ctx.render("{{ read('sql/query.sql') }}") == "select 1"


async def test_read_refuses_files_of_another_flow_or_namespace(storage: LocalStorage, tmp_path: Path) -> None:
    theirs = await storage.put(task_uri(NS, "other-flow", "E0", "t", "R0", "data.txt"), b"secret")
    elsewhere = await storage.put(task_uri("other.ns", "flow", "E0", "t", "R0", "data.txt"), b"secret")
    ctx = _ctx(storage, tmp_path)
    for uri in (theirs, elsewhere, "kestra:///company/team/_kv/answer.json"):
        for call in ("read", "fileSize"):
            with pytest.raises(ExpressionError, match="outside this scope"):
                ctx.render("{{ " + call + "('" + uri + "') }}")
    with pytest.raises(ExpressionError, match="no file in internal storage"):
        ctx.render("{{ read('kestra:///company/team/flow/missing.txt') }}")
    with pytest.raises(ExpressionError):
        ctx.render("{{ read('kestra:///company/team/flow/../../other/ns') }}")


async def test_a_subflow_execution_reads_the_files_of_the_execution_that_started_it(
        storage: LocalStorage, tmp_path: Path) -> None:
    batch = await storage.put(task_uri("parent.ns", "parent", "P1", "each_split", "R0", "1.txt"), b"a\nb\n")
    sibling = await storage.put(task_uri("parent.ns", "parent", "P2", "each_split", "R0", "1.txt"), b"secret")
    child = _ctx(storage, tmp_path, trigger={"executionId": "P1", "namespace": "parent.ns", "flowId": "parent"})
    assert child.render("{{ read('" + batch + "') }}") == "a\nb\n"
    with pytest.raises(ExpressionError, match="outside this scope"):  # another execution of the parent flow
        child.render("{{ read('" + sibling + "') }}")
    with pytest.raises(ExpressionError, match="outside this scope"):  # no trigger: no parent
        _ctx(storage, tmp_path).render("{{ read('" + batch + "') }}")


async def test_read_of_binary_content_says_to_pass_the_uri_instead(storage: LocalStorage, tmp_path: Path) -> None:
    uri = await storage.put(task_uri(NS, "flow", "E0", "t", "R0", "img.bin"), b"\xff\xfe\x00")
    with pytest.raises(ExpressionError, match="not UTF-8 text"):
        _ctx(storage, tmp_path).render("{{ read('" + uri + "') }}")
