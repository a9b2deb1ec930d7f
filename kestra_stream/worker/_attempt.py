"""Running one attempt of a runnable task and turning what happened into a TaskResult event."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic_core import to_jsonable_python

from kestra_stream.errors import ExpressionError, TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import TaskResult
from kestra_stream.ids import derive_id
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType
from kestra_stream.models.task import LogLevel, RunnableTask
from kestra_stream.storage import Storage, StorageError
from kestra_stream.worker import _shared
from kestra_stream.worker._context import TaskRunContext
from kestra_stream.worker._log_file import LogFile
from kestra_stream.worker.services import TaskServices

log = structlog.get_logger(__name__)


async def run_attempt(job: RunTask, *, emit_log: Callable[[LogEntry], None], storage: Storage,
                      workdir_root: Path, services: TaskServices | None = None) -> TaskResult:
    """Run ``job`` to its end. Cancellation (kill, timeout) propagates to the caller."""
    spool = LogFile(job, workdir_root) if job.task.log_to_file else None
    try:
        result = await _run(job, emit_log=spool.add if spool else emit_log, storage=storage,
                            workdir_root=workdir_root, services=services)
    except BaseException:
        # A killed or timed-out attempt reports no result to carry the file's URI: its lines join
        # the log stream rather than being lost.
        if spool is not None:
            spool.release(emit_log)
        raise
    if spool is None:
        return result
    try:
        uri = await spool.store(storage)
    except (StorageError, OSError) as exc:  # the bucket refused it, or the local copy could not be made
        spool.release(emit_log)
        emit_log(_line(job, LogLevel.WARN, f"logToFile: the log file could not be written to internal "
                                           f"storage ({exc}); this attempt's lines are in the log stream"))
        return result
    spool.discard()
    return result.model_copy(update={"log_file": uri})


def _line(job: RunTask, level: LogLevel, message: str) -> LogEntry:
    return LogEntry(execution_id=job.execution_id, namespace=job.namespace, flow_id=job.flow_id, task_id=job.task.id,
                    taskrun_id=job.taskrun_id, attempt_number=job.attempt, level=level, message=message,
                    timestamp=datetime.now(UTC))


async def _run(job: RunTask, *, emit_log: Callable[[LogEntry], None], storage: Storage,
               workdir_root: Path, services: TaskServices | None) -> TaskResult:
    bound = log.bind(execution_id=job.execution_id, taskrun_id=job.taskrun_id, task_id=job.task.id,
                     attempt=job.attempt)
    ctx = TaskRunContext(job, emit_log=emit_log, storage=storage, workdir_root=workdir_root, services=services)
    task = job.task
    outputs: dict[str, Any] | None = None
    directory_outputs: dict[str, Any] | None = None
    state = StateType.SUCCESS
    try:
        if not isinstance(task, RunnableTask):
            raise TaskFailure(f"task '{task.id}' of type {task.type} is not runnable by a worker")
        if job.directory is not None:
            await _shared.enter(ctx, job, job.directory)
        try:
            result = await task.run(ctx)
        finally:
            if job.directory is not None:  # the next child starts from what this one left, even failed
                kept = await _shared.leave(ctx, job, job.directory)
                directory_outputs = _json_safe(kept) if kept is not None else None
        outputs = _json_safe(ctx.mask_outputs(result)) if result is not None else None
        if ctx.warning is not None:
            ctx.log(LogLevel.WARN, ctx.warning)
            state = StateType.WARNING
    except (TaskFailure, ExpressionError) as exc:
        ctx.log(LogLevel.ERROR, str(exc))
        state = StateType.FAILED
    except Exception as exc:  # a plugin bug fails the attempt, never the worker
        bound.exception("task_crashed")
        ctx.log(LogLevel.ERROR, f"{type(exc).__name__}: {exc}")
        state = StateType.FAILED
    finally:
        ctx.cleanup()
    bound.debug("attempt_ended", state=state.value)
    return TaskResult(event_id=derive_id("result", job.job_id), execution_id=job.execution_id,
                      at=datetime.now(UTC), taskrun_id=job.taskrun_id, attempt=job.attempt, state=state,
                      outputs=outputs, labels=ctx.labels or None, directory_outputs=directory_outputs)


def attempt_failed(job: RunTask, message: str) -> TaskResult:
    """The result of an attempt that could not run or report to its end: FAILED, saying why."""
    return TaskResult(event_id=derive_id("result", job.job_id), execution_id=job.execution_id, at=datetime.now(UTC),
                      taskrun_id=job.taskrun_id, attempt=job.attempt, state=StateType.FAILED, message=message)


def _json_safe(outputs: Any) -> dict[str, Any]:
    # Outputs travel in events and snapshots; datetimes and the like become their JSON form now,
    # so both backends hand the next task exactly the same values.
    safe = to_jsonable_python(outputs, fallback=str)
    if not isinstance(safe, dict):
        raise TaskFailure(f"task outputs must be a map, got {json.dumps(safe)[:100]}")
    return safe
