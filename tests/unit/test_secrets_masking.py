"""secret('NAME') on the worker, and secret values masked in every log line and in outputs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kestra_stream_plugin_core as core
import pytest

from kestra_stream.errors import ExpressionError
from kestra_stream.executor.commands import RunTask
from kestra_stream.models.log import LogEntry
from kestra_stream.models.plugin import PluginModel
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.storage import LocalStorage
from kestra_stream.worker import TaskRunContext, run_attempt

MASK = "******"
PASSWORD = "s3cr3t-pa55"
PEM = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nYWJjZGVmZ2hpamtsbW5vcA==\n}\n-----END KEY-----"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _job(cls: type[PluginModel], **raw: Any) -> RunTask:
    assert cls.plugin is not None
    task = cls.model_validate({"type": cls.plugin.type, "id": "t", **raw})
    assert isinstance(task, RunnableTask)
    return RunTask(execution_id="E1", taskrun_id="R1", attempt=1, task=task, namespace="company.team",
                   flow_id="flow", variables={"flow": {"id": "flow", "namespace": "company.team"},
                                              "execution": {"id": "E1"}, "task": {"id": "t"}})


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_PASSWORD", _b64(PASSWORD))
    monkeypatch.setenv("SECRET_PEM", _b64(PEM))
    monkeypatch.setenv("SECRET_BROKEN", "not base64!")


async def _attempt(tmp_path: Path, job: RunTask) -> tuple[StateType, dict[str, Any] | None, list[LogEntry]]:
    logs: list[LogEntry] = []
    result = await run_attempt(job, emit_log=logs.append, storage=LocalStorage(tmp_path / "storage"),
                               workdir_root=tmp_path / "work")
    return result.state, result.outputs, logs


def _ctx(environ: dict[str, str], logs: list[LogEntry], tmp_path: Path) -> TaskRunContext:
    return TaskRunContext(_job(core.Log, message="x"), emit_log=logs.append,
                          storage=LocalStorage(tmp_path / "storage"), workdir_root=tmp_path / "work",
                          environ=environ)


@pytest.mark.usefixtures("secrets_env")
async def test_a_secret_logged_by_a_task_is_masked(tmp_path: Path) -> None:
    state, _, logs = await _attempt(tmp_path, _job(
        core.Log, message=["password is {{ secret('PASSWORD') }}!", "twice: {{ secret('PASSWORD') }}"
                           "{{ secret('PASSWORD') }}"]))
    assert state is StateType.SUCCESS
    assert [entry.message for entry in logs] == [f"password is {MASK}!", f"twice: {MASK}{MASK}"]


@pytest.mark.usefixtures("secrets_env")
async def test_a_secret_in_outputs_is_masked_at_any_depth(tmp_path: Path) -> None:
    state, outputs, _ = await _attempt(tmp_path, _job(core.OutputValues, values={
        "plain": "{{ secret('PASSWORD') }}", "nested": {"list": ["x", "user:{{ secret('PASSWORD') }}@host"]},
        "number": 3}))
    assert state is StateType.SUCCESS
    assert outputs == {"values": {"plain": MASK, "nested": {"list": ["x", f"user:{MASK}@host"]}, "number": 3}}
    assert PASSWORD not in repr(outputs)


@pytest.mark.usefixtures("secrets_env")
async def test_a_multi_line_secret_is_masked_whole_and_line_by_line(tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    ctx = _ctx({"SECRET_PEM": _b64(PEM)}, logs, tmp_path)
    assert ctx.render("{{ secret('PEM') }}") == PEM
    ctx.log(LogLevel.INFO, f"key:\n{PEM}\nend")
    for line in PEM.splitlines():
        ctx.log(LogLevel.INFO, line)
    messages = [entry.message for entry in logs]
    assert messages[0] == f"key:\n{MASK}\nend"
    # Lines a script prints one at a time are masked, except ones too short to be told from plain text.
    assert messages[1:] == [MASK, MASK, MASK, "}", MASK]
    assert ctx.mask_outputs({"pem": PEM, "line": "YWJjZGVmZ2hpamtsbW5vcA=="}) == {"pem": MASK, "line": MASK}


async def test_a_secret_containing_another_is_masked_whole(tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    ctx = _ctx({"SECRET_SHORT": _b64("abcd"), "SECRET_LONG": _b64("abcdefgh")}, logs, tmp_path)
    ctx.render("{{ secret('SHORT') }}{{ secret('LONG') }}")
    ctx.log(LogLevel.INFO, "abcdefgh abcd")
    assert [entry.message for entry in logs] == [f"{MASK} {MASK}"]


async def test_nothing_is_masked_before_a_secret_is_read(tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    ctx = _ctx({"SECRET_PASSWORD": _b64(PASSWORD)}, logs, tmp_path)
    ctx.log(LogLevel.INFO, PASSWORD)
    assert ctx.mask_outputs({"a": PASSWORD}) == {"a": PASSWORD}
    assert [entry.message for entry in logs] == [PASSWORD]


@pytest.mark.usefixtures("secrets_env")
async def test_a_failing_task_message_does_not_leak_the_secret(tmp_path: Path) -> None:
    state, _, logs = await _attempt(tmp_path, _job(core.Fail, errorMessage="bad token {{ secret('PASSWORD') }}"))
    assert state is StateType.FAILED
    assert logs and all(PASSWORD not in entry.message for entry in logs)
    assert any(f"bad token {MASK}" in entry.message for entry in logs)


@pytest.mark.usefixtures("secrets_env")
async def test_missing_and_malformed_secrets_say_how_to_set_them(tmp_path: Path) -> None:
    logs: list[LogEntry] = []
    ctx = _ctx({"SECRET_BROKEN": "not base64!"}, logs, tmp_path)
    with pytest.raises(ExpressionError, match="set the environment variable SECRET_NOPE to its value encoded in"):
        ctx.render("{{ secret('NOPE') }}")
    with pytest.raises(ExpressionError, match="SECRET_BROKEN is not valid base64"):
        ctx.render("{{ secret('BROKEN') }}")


async def test_the_value_of_a_secret_input_is_masked_in_logs_and_outputs(tmp_path: Path) -> None:
    job = _job(core.Log, message="connecting with {{ inputs.db.password }} as {{ inputs.user }}")
    job = job.model_copy(update={"secret_inputs": ("db.password",), "variables": {
        **job.variables, "inputs": {"db": {"password": PASSWORD}, "user": "admin"}}})
    state, _, logs = await _attempt(tmp_path, job)
    assert state is StateType.SUCCESS
    assert [entry.message for entry in logs] == [f"connecting with {MASK} as admin"]
    outputs_job = _job(core.OutputValues, values={"dsn": "pg://admin:{{ inputs.pw }}@db"})
    outputs_job = outputs_job.model_copy(update={"secret_inputs": ("pw",), "variables": {
        **outputs_job.variables, "inputs": {"pw": PASSWORD}}})
    _, outputs, _ = await _attempt(tmp_path, outputs_job)
    assert outputs == {"values": {"dsn": f"pg://admin:{MASK}@db"}}


def test_jobs_name_the_flows_secret_inputs() -> None:
    from fold_driver import Driver

    from kestra_stream.flows import load_flow

    d = Driver(load_flow("id: f\nnamespace: tests.secrets\ninputs:\n  - {id: token, type: SECRET}\n"
                         "  - {id: name, type: STRING}\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                         "    message: hi\n"))
    (job,) = [c for c in d.create(inputs={"token": PASSWORD, "name": "x"}) if isinstance(c, RunTask)]
    assert job.secret_inputs == ("token",)
