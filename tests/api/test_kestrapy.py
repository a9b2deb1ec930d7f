"""Kestra's official Python SDK (``kestrapy``, pinned in the test extra) against a real ``server local``.

Every call goes through the SDK's own paths (Kestra 2.x's: ``/api/v1/main/...``, execution commands
under ``/actions/``) and must succeed; every answer must come back as the SDK's model, with the
fields a script reads (ids, states, revisions, values) parsed into their types. The SDK's models
are generated from Kestra's OpenAPI document and some of their fields are required although Kestra
itself never writes them (``State.getDuration``): the SDK then builds the model field by field,
which is what a user gets from Kestra too, so the fields are checked rather than a strict parse.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

with warnings.catch_warnings():
    # One of kestrapy's generated models names a field `validate`, shadowing pydantic's method: a warning at import.
    warnings.filterwarnings("ignore", message='Field name "validate"', category=UserWarning)
    from kestrapy.base_api import BaseApi
    from kestrapy.kestra_client import KestraClient
    from kestrapy.models import (
        BulkResponse,
        Execution,
        ExecutionControllerExecutionResponse,
        ExecutionControllerStateRequest,
        FileAttributes,
        FlowForExecution,
        FlowGraph,
        FlowWithSource,
        KVControllerKvDetail,
        KVEntry,
        LogEntry,
        PagedResultsFlow,
        PagedResultsKVEntry,
        QueryFilter,
        QueryFilterField,
        QueryFilterOp,
        StateType,
    )

T = TypeVar("T")
TENANT = "main"
NS = "sdk.journey"
USER, PASSWORD = "sdk@example.com", "Sdk-Pa55word"
CONFIG = f"api:\n  basic_auth:\n    {USER}: {PASSWORD}\n"
WAIT = 60.0
FLOW = f"""
id: greeter
namespace: {NS}
inputs:
  - id: name
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{{{ inputs.name }}}}"
  - id: check
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ inputs.name == 'fail' }}}}"
    errorMessage: asked to fail
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""
SLEEPER = f"""
id: sleeper
namespace: {NS}
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health/ready", timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # a slow answer is asked again
        return False


def eventually(probe: Callable[[], T | None], what: str, within: float = WAIT) -> T:
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within:g} s in vain for {what}")
        time.sleep(0.2)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[KestraClient]:
    home, config = tmp_path / "home", tmp_path / "config.yaml"
    config.write_text(CONFIG)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "kestra_stream", "--log-format", "json", "server", "local", "--host", "127.0.0.1",
         "--port", str(port), "--home", str(home), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: process.poll() is not None or _ready(base), "the server to be ready")
        assert process.poll() is None, f"the server exited: {process.communicate()[1]}"
        yield KestraClient(host=base, username=USER, password=PASSWORD, timeout=WAIT)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _execution(client: KestraClient, execution_id: str, *states: StateType) -> Execution | None:
    execution = client.executions.execution(execution_id, TENANT)
    assert isinstance(execution, Execution)
    return execution if execution.state.current in states else None


def test_flows_with_the_sdk(client: KestraClient) -> None:
    created = client.flows.create_flow(TENANT, FLOW)
    assert isinstance(created, FlowWithSource)
    assert (created.namespace, created.id, created.revision) == (NS, "greeter", 1)
    updated = client.flows.update_flow(NS, "greeter", TENANT, FLOW.replace("Hello", "Hi"))
    assert updated.revision == 2 and "Hi {{ inputs.name }}" in (updated.source or "")
    fetched = client.flows.flow(NS, "greeter", TENANT)
    assert isinstance(fetched, FlowWithSource) and fetched.revision == 2 and fetched.disabled is False

    found = eventually(lambda: _flows_found(client), "the search index to list the flow")
    assert isinstance(found, PagedResultsFlow)
    assert [(f.namespace, f.id) for f in found.results] == [(NS, "greeter")]
    assert [f.revision for f in client.flows.list_flow_revisions(NS, "greeter", TENANT)] == [1, 2]

    graph = client.flows.generate_flow_graph(NS, "greeter", TENANT)
    assert isinstance(graph, FlowGraph)
    uids = {node.uid for node in graph.nodes or []}
    assert {"root.hello", "root.check"} <= uids


def _flows_found(client: KestraClient) -> PagedResultsFlow | None:
    found = client.flows.search_flows(TENANT)
    return found if found.total else None


def test_executions_logs_and_graph_with_the_sdk(client: KestraClient) -> None:
    client.flows.create_flow(TENANT, FLOW)
    client.flows.create_flow(TENANT, SLEEPER)

    done = client.executions.create_execution(TENANT, NS, "greeter", wait=True, inputs={"name": "sdk"},
                                              labels=["team:sdk"])
    assert isinstance(done, ExecutionControllerExecutionResponse)
    assert done.state.current == StateType.SUCCESS
    assert [run.task_id for run in done.task_run_list or []] == ["hello", "check"]
    assert any(label.key == "team" and label.value == "sdk" for label in done.labels or [])

    fetched = client.executions.execution(done.id, TENANT)
    assert isinstance(fetched, Execution) and fetched.inputs == {"name": "sdk"}
    page = eventually(lambda: _search(client, done.id), "the search index to list the execution")
    assert page["total"] >= 1
    # Kestra 2.x's filters, as the SDK sends them (filters[field][OPERATION]=value, labels as a map).
    filtered = client.executions.search_executions(TENANT, filters=[
        QueryFilter(field=QueryFilterField.NAMESPACE, operation=QueryFilterOp.PREFIX, value="sdk"),
        QueryFilter(field=QueryFilterField.FLOW_ID, operation=QueryFilterOp.EQUALS, value="greeter"),
        QueryFilter(field=QueryFilterField.STATE, operation=QueryFilterOp.IN, value=["SUCCESS", "WARNING"]),
        QueryFilter(field=QueryFilterField.LABELS, operation=QueryFilterOp.EQUALS, value={"team": "sdk"})])
    assert [e["id"] for e in filtered["results"]] == [done.id]
    none = client.executions.search_executions(TENANT, filters=[
        QueryFilter(field=QueryFilterField.STATE, operation=QueryFilterOp.NOT_IN, value=["SUCCESS"])])
    assert none["total"] == 0
    by_flow = client.executions.search_executions_by_flow_id(TENANT, NS, "greeter", size=5)
    # This call answers raw JSON: each result is parsed as the SDK parses an execution it reads.
    flow_runs = [BaseApi._deserialize(e, Execution) for e in by_flow["results"]]
    assert by_flow["total"] == 1 and [(e.id, e.flow_id, e.state.current) for e in flow_runs] == [
        (done.id, "greeter", StateType.SUCCESS)]

    graph = client.executions.execution_flow_graph(done.id, TENANT)
    states = {node.uid: (node.additional_properties or {}).get("state") for node in graph.nodes or []}
    assert states["root.hello"] == "SUCCESS"
    flow = client.executions.flow_from_execution_by_id(done.id, TENANT)
    assert isinstance(flow, FlowForExecution) and flow.revision == done.flow_revision

    logs = client.logs.list_logs_from_execution(done.id, TENANT)
    assert all(isinstance(line, LogEntry) for line in logs)
    assert "Hello sdk" in [line.message for line in logs]
    assert "Hello sdk" in client.logs.download_logs_from_execution(done.id, TENANT)
    searched = eventually(lambda: _logs_found(client), "the search index to list the log lines")
    assert any(line.message == "Hello sdk" for line in searched)

    # A failed execution, restarted then replayed from its failed task run.
    failed = client.executions.create_execution(TENANT, NS, "greeter", wait=True, inputs={"name": "fail"})
    assert failed.state.current == StateType.FAILED
    restarted = client.executions.restart_execution(failed.id, TENANT)
    assert isinstance(restarted, Execution) and restarted.id == failed.id
    eventually(lambda: _restarted_and_failed(client, failed.id), "the restarted execution to fail again")
    check_run = next(run for run in failed.task_run_list or [] if run.task_id == "check")
    replayed = client.executions.replay_execution(failed.id, TENANT, task_run_id=check_run.id)
    assert isinstance(replayed, Execution) and replayed.id != failed.id and replayed.original_id == failed.id
    replay_failed = eventually(lambda: _execution(client, replayed.id, StateType.FAILED), "the replay to end")
    # Its failed task run set to SUCCESS by hand (Kestra 2.x's /actions/state): the replay ends SUCCESS.
    replay_check = next(run for run in replay_failed.task_run_list or [] if run.task_id == "check")
    changed = client.executions.update_task_run_state(
        replayed.id, TENANT, ExecutionControllerStateRequest(taskRunId=replay_check.id, state=StateType.SUCCESS))
    assert isinstance(changed, Execution) and changed.id == replayed.id
    eventually(lambda: _execution(client, replayed.id, StateType.SUCCESS), "the changed replay to succeed")

    # A long execution, killed.
    sleeping = client.executions.create_execution(TENANT, NS, "sleeper")
    eventually(lambda: _execution(client, sleeping.id, StateType.RUNNING), "the sleeper to run")
    killed = client.executions.kill_execution(sleeping.id, TENANT)
    assert isinstance(killed, Execution) and killed.id == sleeping.id
    eventually(lambda: _execution(client, sleeping.id, StateType.KILLED), "the sleeper to be killed")

    deleted = client.executions.delete_executions_by_ids(TENANT, [sleeping.id])
    assert isinstance(deleted, BulkResponse) and deleted.count == 1


def _search(client: KestraClient, execution_id: str) -> dict[str, Any] | None:
    page: dict[str, Any] = client.executions.search_executions(TENANT)
    return page if any(e["id"] == execution_id for e in page["results"]) else None


def _logs_found(client: KestraClient) -> list[LogEntry] | None:
    page = client.logs.search_logs(TENANT, size=100)
    return page.results or None


def _restarted_and_failed(client: KestraClient, execution_id: str) -> bool:
    execution = client.executions.execution(execution_id, TENANT)
    histories = [h.state for h in execution.state.histories]
    return StateType.RESTARTED in histories and execution.state.current == StateType.FAILED


def test_kv_namespace_files_and_triggers_with_the_sdk(client: KestraClient) -> None:
    client.flows.create_flow(TENANT, FLOW)

    client.kv.set_key_value(NS, "threshold", TENANT, "42")
    value = client.kv.key_value(NS, "threshold", TENANT)
    assert isinstance(value, KVControllerKvDetail) and value.value == 42 and value.type.value == "NUMBER"
    client.kv.set_key_value("sdk", "inherited", TENANT, '"from the parent"')
    inherited = client.kv.list_keys_with_inheritance(NS, TENANT)
    assert [(e.namespace, e.key) for e in inherited if isinstance(e, KVEntry)] == [("sdk", "inherited")]
    all_keys = client.kv.list_all_keys(TENANT, size=10)
    assert isinstance(all_keys, PagedResultsKVEntry) and all_keys.total == 2
    assert [(e.namespace, e.key) for e in all_keys.results] == [("sdk", "inherited"), (NS, "threshold")]
    assert client.kv.delete_key_value(NS, "threshold", TENANT) is True

    client.files.create_namespace_directory(NS, TENANT, path="/scripts/empty")
    client.files.create_namespace_file(NS, "/scripts/main.py", TENANT, b"print('hi')\n")
    listed = client.files.list_namespace_directory_files(NS, TENANT, path="/scripts")
    assert [(f.file_name, f.type.value, f.size) for f in listed if isinstance(f, FileAttributes)] == [
        ("empty", "Directory", 0), ("main.py", "File", 12)]
    assert client.files.file_content(NS, "/scripts/main.py", TENANT) == b"print('hi')\n"
    assert client.files.file_metadatas(NS, TENANT, path="/scripts/main.py").size == 12
    client.files.move_file_directory(NS, "/scripts/main.py", "/scripts/app.py", TENANT)
    assert client.files.search_namespace_files(NS, "app", TENANT) == ["/scripts/app.py"]
    client.files.delete_file_directory(NS, "/scripts/app.py", TENANT)
    assert client.files.search_namespace_files(NS, "app", TENANT) == []

    triggers = client.triggers.search_triggers(TENANT)
    assert [t["triggerContext"]["triggerId"] for t in triggers["results"]] == ["nightly"]
    ref = {"namespace": NS, "flowId": "greeter", "triggerId": "nightly"}
    assert client.triggers.disable_trigger_by_id(TENANT, {**ref, "disabled": True})["disabled"] is True
    assert client.triggers.search_triggers_for_flow(TENANT, NS, "greeter")["results"][0]["triggerContext"][
        "disabled"] is True
    assert client.triggers.disabled_triggers_by_ids(TENANT, {"triggers": [ref], "disabled": False}) == {"count": 1}
    assert client.triggers.unlock_trigger(TENANT, NS, "greeter", "nightly")["triggerId"] == "nightly"
    backfill = client.triggers.create_backfill(TENANT, {**ref, "backfill": {"start": "2024-01-01T00:00:00Z",
                                                                            "end": "2024-01-02T00:00:00Z"}})
    assert backfill["backfill"]["start"].startswith("2024-01-01")
    assert client.triggers.pause_backfill(TENANT, ref)["backfill"]["paused"] is True
    assert client.triggers.unpause_backfill(TENANT, ref)["backfill"]["paused"] is False
    assert client.triggers.delete_backfill(TENANT, ref).get("backfill") is None
