"""Workers: run one attempt of a runnable task and report its result."""

from kestra_stream.worker._attempt import attempt_failed, run_attempt
from kestra_stream.worker._context import TaskRunContext, WorkerFunctions
from kestra_stream.worker._files import task_file_uri

__all__ = ["TaskRunContext", "WorkerFunctions", "attempt_failed", "run_attempt", "task_file_uri"]
