"""Worker groups on Kafka, with real `kestra-stream worker` processes: one of group ``a``, one of no group.

- A task of group ``a`` runs on the worker of group ``a``, a task of no group on the plain worker:
  the worker id kept on each attempt says which ran it. (Its fallback is WAIT: a worker that has just
  started may not have beaten yet where the executor reads, and FAIL would then fail it, rightly.)
- A task of group ``nobody`` with fallback FAIL fails at once, saying no worker of the group is alive.
- A task of group ``late`` (fallback WAIT) waits, saying so, and runs once a worker of ``late`` starts:
  that worker's new consumer group reads the job published before it existed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_stream.kafka import KafkaStack
from kestra_stream.models.state import StateType
from tests._waiting import until
from tests.e2e.kafka_crash_driver import NAMESPACE, Component, Processes, client, fresh_settings, wait_all

pytestmark = pytest.mark.kafka

GROUPS_FLOW = f"""
id: groups
namespace: {NAMESPACE}
tasks:
  - id: grouped
    type: io.kestra.plugin.core.debug.Return
    format: in a
    workerGroup:
      key: a
  - id: plain
    type: io.kestra.plugin.core.debug.Return
    format: in no group
"""

NOBODY_FLOW = f"""
id: nobody
namespace: {NAMESPACE}
tasks:
  - id: orphan
    type: io.kestra.plugin.core.debug.Return
    format: never
    workerGroup:
      key: nobody
      fallback: FAIL
"""

LATE_FLOW = f"""
id: late
namespace: {NAMESPACE}
workerGroup:
  key: late
tasks:
  - id: waits
    type: io.kestra.plugin.core.debug.Return
    format: ran late
"""


def worker_id(component: Component) -> str:
    started = [e for e in component.events() if e.get("event") == "kafka_worker_started"]
    assert started, component.tail()
    return str(started[0]["worker_id"])


def logged(stack: KafkaStack, execution_id: str, task_id: str, text: str) -> bool:
    return any(e.task_id == task_id and text in e.message for e in stack.logs(execution_id))


async def test_a_worker_group_runs_its_tasks_only_and_a_group_without_workers_follows_its_fallback(
        kafka_bootstrap: str, tmp_path: Path, processes: Processes) -> None:
    settings = fresh_settings(kafka_bootstrap)
    describe = processes.describe
    async with client(settings, tmp_path / "client", [GROUPS_FLOW, NOBODY_FLOW, LATE_FLOW]) as stack:
        executor = processes.start(Component("executor", settings, processes.logs / "executor.log"))
        plain = processes.start(Component("worker", settings, processes.logs / "worker-plain.log",
                                          home=tmp_path / "plain"))
        in_a = processes.start(Component("worker", settings, processes.logs / "worker-a.log", home=tmp_path / "a",
                                         options=["--worker-group", "a"]))
        for component in (executor, plain, in_a):
            component.wait_for("kafka_executor_started" if component.kind == "executor" else "partitions_assigned",
                               within=120)
        plain_id, a_id = worker_id(plain), worker_id(in_a)

        runs = [await stack.create_execution(NAMESPACE, "groups") for _ in range(6)]
        orphan = await stack.create_execution(NAMESPACE, "nobody")
        ended = await wait_all(stack, [*runs, orphan], within=120, describe=describe)

        for execution_id in runs:
            execution = ended[execution_id]
            assert execution.state.current == StateType.SUCCESS, execution_id
            [grouped] = execution.taskruns_of("grouped")
            [other] = execution.taskruns_of("plain")
            assert [a.worker_id for a in grouped.attempts] == [a_id]
            assert [a.worker_id for a in other.attempts] == [plain_id]

        assert ended[orphan].state.current == StateType.FAILED
        [failed] = ended[orphan].taskruns_of("orphan")
        assert failed.state.current == StateType.FAILED and [a.worker_id for a in failed.attempts] == [None]
        await until(lambda: logged(stack, orphan, "orphan", "no worker of group 'nobody' is alive; failing"),
                    "the orphan task's log line saying why it failed", within=30, describe=describe)

        late = await stack.create_execution(NAMESPACE, "late")
        await until(lambda: logged(stack, late, "waits", "no worker of group 'late' is alive; waiting"),
                    "the late task's log line saying it waits", within=60, describe=describe)
        state = stack.state(late)
        assert state is not None and not state.finished
        in_late = processes.start(Component("worker", settings, processes.logs / "worker-late.log",
                                            home=tmp_path / "late", options=["--worker-group", "late"]))
        done = (await wait_all(stack, [late], within=120, describe=describe))[late]
        assert done.state.current == StateType.SUCCESS
        assert [a.worker_id for a in done.taskruns_of("waits")[0].attempts] == [worker_id(in_late)]
