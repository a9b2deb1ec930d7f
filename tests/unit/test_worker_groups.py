"""Worker groups: validation, the job's effective group, which worker takes it, and the fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fold_driver import T0, Driver, flow, logs

from kestra_stream.cli import main
from kestra_stream.errors import FlowValidationError
from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import TaskResult
from kestra_stream.executor.plan import Effects
from kestra_stream.executor.worker_groups import no_live_worker, route, takes, with_worker_groups
from kestra_stream.flows import load_flow
from kestra_stream.kafka import KafkaSettings
from kestra_stream.kafka.executor._liveness import live_groups
from kestra_stream.kafka.worker import WorkerHeartbeat
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel, WorkerGroup

GROUPED = """
workerGroup:
  key: flowgroup
tasks:
  - id: own
    type: io.kestra.plugin.core.log.Log
    message: own
    workerGroup:
      key: gpu
      fallback: FAIL
  - id: inherits
    type: io.kestra.plugin.core.log.Log
    message: inherits
"""


def _job(d: Driver, task_id: str) -> RunTask:
    return d.job(task_id)


# ----- validation ---------------------------------------------------------------------------------


def test_a_task_worker_group_as_in_kestra_invalid_flows_is_accepted_with_wait_by_default() -> None:
    # Kestra OSS refuses this flow (worker groups are Enterprise); here worker groups exist.
    loaded = load_flow("id: worker-group\nnamespace: io.kestra.tests\ntasks:\n  - id: worker-group\n"
                       "    type: io.kestra.plugin.core.debug.Return\n    format: x\n"
                       "    workerGroup:\n      key: toto\n")
    assert loaded.tasks[0].worker_group == WorkerGroup(key="toto", fallback="WAIT")


@pytest.mark.parametrize("group", ["{key: 'has space'}", "{key: '-dash'}", "{key: a, fallback: RETRY}", "{}"])
def test_a_worker_group_without_a_valid_key_or_fallback_is_refused(group: str) -> None:
    with pytest.raises(FlowValidationError, match="workerGroup"):
        load_flow(f"id: f\nnamespace: n\nworkerGroup: {group}\ntasks:\n" + logs("a"))


# ----- the job's group ----------------------------------------------------------------------------


def test_a_job_carries_its_task_group_else_its_flow_group() -> None:
    d = Driver(flow(GROUPED))
    d.create()
    assert _job(d, "own").worker_group == WorkerGroup(key="gpu", fallback="FAIL")
    d.result(_job(d, "own"), StateType.SUCCESS)
    assert _job(d, "inherits").worker_group == WorkerGroup(key="flowgroup")


def test_a_job_of_a_flow_without_groups_has_no_group() -> None:
    d = Driver(flow("tasks:\n" + logs("a")))
    d.create()
    assert _job(d, "a").worker_group is None and _job(d, "a").group_key is None


# ----- which worker takes a job -------------------------------------------------------------------


def _grouped_job(key: str | None, fallback: str = "WAIT") -> RunTask:
    d = Driver(flow("tasks:\n" + logs("a")))
    d.create()
    group = WorkerGroup.model_validate({"key": key, "fallback": fallback}) if key else None
    return _job(d, "a").model_copy(update={"worker_group": group})


def test_a_worker_of_a_group_takes_only_its_group_and_a_plain_worker_only_jobs_of_no_group() -> None:
    gpu, plain = _grouped_job("gpu"), _grouped_job(None)
    assert takes("gpu", gpu) and not takes("gpu", plain)
    assert takes(None, plain) and not takes(None, gpu)
    assert not takes("cpu", gpu)


# ----- fallbacks ------------------------------------------------------------------------------------


def test_a_job_whose_group_is_alive_is_handed_out_unchanged() -> None:
    job = _grouped_job("gpu", "FAIL")
    routed = route([job], frozenset({"gpu"}), T0)
    assert routed.jobs == [job] and routed.events == [] and routed.logs == []


def test_wait_hands_the_job_out_and_tells_the_execution_it_waits() -> None:
    job = _grouped_job("gpu", "WAIT")
    routed = route([job], frozenset({"other"}), T0)
    assert routed.jobs == [job] and routed.events == []
    [line] = routed.logs
    assert (line.level, line.taskrun_id, line.timestamp) == (LogLevel.WARN, job.taskrun_id, T0)
    assert line.message == "no worker of group 'gpu' is alive; waiting until one starts"


@pytest.mark.parametrize(("fallback", "state"), [("FAIL", StateType.FAILED), ("CANCEL", StateType.KILLED)])
def test_fail_and_cancel_hold_the_job_back_and_end_its_attempt(fallback: str, state: StateType) -> None:
    job = _grouped_job("gpu", fallback)
    routed = route([job], frozenset(), T0)
    assert routed.jobs == [] and routed.logs == []
    [result] = routed.events
    assert isinstance(result, TaskResult)
    assert (result.taskrun_id, result.attempt, result.state) == (job.taskrun_id, job.attempt, state)
    assert result.message == no_live_worker("gpu", fallback)
    # The id a worker's result of the attempt would have: a late worker's result is a duplicate.
    assert route([job], frozenset(), T0 + timedelta(seconds=5)).events[0].event_id == result.event_id


def test_effects_without_grouped_jobs_are_kept_as_they_are() -> None:
    effects = Effects(jobs=[_grouped_job(None)])
    assert with_worker_groups(effects, frozenset(), T0) is effects


@pytest.mark.parametrize(("fallback", "task_state", "execution_state"),
                         [("FAIL", StateType.FAILED, StateType.FAILED), ("CANCEL", StateType.KILLED, None)])
def test_the_fold_ends_the_task_run_by_the_fallback_and_logs_why(fallback: str, task_state: StateType,
                                                                 execution_state: StateType | None) -> None:
    d = Driver(flow(f"tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: a\n"
                    f"    workerGroup: {{key: nobody, fallback: {fallback}}}\n"))
    d.create()
    [result] = route([_job(d, "a")], frozenset(), T0).events
    d.send(result)
    assert d.taskrun("a").state.current == task_state
    if execution_state is not None:
        assert d.execution.state.current == execution_state
    assert d.execution.state.current.is_terminated


# ----- liveness -------------------------------------------------------------------------------------


def _beat(worker_id: str, group: str | None, at: datetime) -> WorkerHeartbeat:
    return WorkerHeartbeat(worker_id=worker_id, host="h", pid=1, group_id="g", concurrency=1, running=[],
                           at=at, worker_group=group)


def test_a_group_is_alive_while_one_of_its_workers_beat_recently() -> None:
    now = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
    beats = {"w1": _beat("w1", "gpu", now - timedelta(seconds=2)),
             "w2": _beat("w2", "old", now - timedelta(seconds=30)),
             "w3": _beat("w3", None, now)}
    assert live_groups(beats, now) == frozenset({"gpu"})


def test_a_worker_group_key_makes_a_consumer_group_of_its_own() -> None:
    plain = KafkaSettings(topic_prefix="p.")
    assert plain.worker_consumer_group == "p-worker"
    assert KafkaSettings(topic_prefix="p.", worker_group_key="gpu").worker_consumer_group == "p-worker-gpu"
    with pytest.raises(ValueError, match="worker_group_key"):
        KafkaSettings(worker_group_key="not a key")


# ----- the commands ---------------------------------------------------------------------------------

FAIL_FLOW = Path(__file__).parents[1] / "compat" / "cases" / "worker_group_fail" / "flow.yaml"


def test_execute_on_kafka_refuses_worker_groups_its_one_worker_cannot_serve() -> None:
    result = CliRunner().invoke(main, ["execute", str(FAIL_FLOW), "--backend", "kafka", "--worker-group", "gpu"])
    assert result.exit_code == 2 and "kestra-stream worker --worker-group KEY" in result.output


@pytest.mark.parametrize("command", [["execute", str(FAIL_FLOW)], ["server", "local"], ["worker"]])
def test_a_worker_group_option_must_be_a_key(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--worker-group", "not a key"])
    assert result.exit_code == 2 and "no worker group key" in result.output
