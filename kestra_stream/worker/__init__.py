"""Workers: run one attempt of a runnable task and report its result."""

from kestra_stream.worker._attempt import attempt_failed, run_attempt
from kestra_stream.worker._context import TaskRunContext, WorkerFunctions
from kestra_stream.worker._files import task_file_uri
from kestra_stream.worker.files import (
    glob_to_regex,
    match_output_files,
    safe_join,
    upload_output_files,
    write_input_files,
)

__all__ = [
    "TaskRunContext",
    "WorkerFunctions",
    "attempt_failed",
    "glob_to_regex",
    "match_output_files",
    "run_attempt",
    "safe_join",
    "task_file_uri",
    "upload_output_files",
    "write_input_files",
]
