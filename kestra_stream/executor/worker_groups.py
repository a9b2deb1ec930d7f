"""Worker groups: which worker takes a job, and what a job does while no worker of its group is alive.

Pure: whether a group has a live worker is a fact handed in by the backend (its heartbeats on Kafka,
the groups its in-process workers serve on the embedded backend), never read from a clock here.

A task's effective group is its own ``workerGroup``, else its flow's (set on ``RunTask.worker_group``
by the fold). A worker started with a key takes only the jobs of that key; a worker without one
takes only the jobs of no group, so a grouped task never runs on an ordinary worker.

Without a live worker of its group when it is dispatched, a job follows its ``fallback``:
WAIT (Kestra's default): it is still handed to the group (it runs once a worker of the group
    comes), and the execution's logs say it waits;
FAIL: it is not handed out; its attempt ends FAILED with that message (a retry may try again);
CANCEL: it is not handed out; its attempt ends KILLED, and so does its task run.
A worker of the group that dies after the job was handed out leaves the job waiting whatever the
fallback: the decision is taken once, at dispatch, as Kestra's executor takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import Event, TaskResult
from kestra_stream.executor.plan import Effects
from kestra_stream.ids import derive_id
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel


def takes(worker_key: str | None, job: RunTask) -> bool:
    """Whether a worker started with ``worker_key`` (None: no group) runs ``job``."""
    return job.group_key == worker_key


def no_live_worker(key: str, fallback: str) -> str:
    """What the execution is told when no worker of group ``key`` is alive."""
    then = {"WAIT": "waiting until one starts", "FAIL": "failing the task (fallback FAIL)",
            "CANCEL": "cancelling the task (fallback CANCEL)"}[fallback]
    return f"no worker of group '{key}' is alive; {then}"


@dataclass
class Routed:
    """The jobs to hand out, and what the jobs held back become: results to the executor, log lines."""

    jobs: list[RunTask] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)


def route(jobs: list[RunTask], live_groups: frozenset[str], at: datetime) -> Routed:
    """Apply each grouped job's fallback when ``live_groups`` (the keys with a live worker) lacks its key."""
    out = Routed()
    for job in jobs:
        group = job.worker_group
        if group is None or group.key in live_groups:
            out.jobs.append(job)
            continue
        message = no_live_worker(group.key, group.fallback)
        if group.fallback == "WAIT":
            out.jobs.append(job)
            out.logs.append(LogEntry(execution_id=job.execution_id, namespace=job.namespace, flow_id=job.flow_id,
                                     task_id=job.task.id, taskrun_id=job.taskrun_id, level=LogLevel.WARN,
                                     message=message, timestamp=at))
            continue
        # The id is the one a worker's result of this attempt has: whichever comes first counts.
        out.events.append(TaskResult(
            event_id=derive_id("result", job.job_id), execution_id=job.execution_id, at=at,
            taskrun_id=job.taskrun_id, attempt=job.attempt, message=message,
            state=StateType.FAILED if group.fallback == "FAIL" else StateType.KILLED))
    return out


def with_worker_groups(effects: Effects, live_groups: frozenset[str], at: datetime) -> Effects:
    """``effects`` with its jobs routed (see ``route``): held-back jobs become events and log lines."""
    if all(job.worker_group is None for job in effects.jobs):
        return effects
    routed = route(effects.jobs, live_groups, at)
    return replace(effects, jobs=routed.jobs, events=[*effects.events, *routed.events],
                   logs=[*effects.logs, *routed.logs])
