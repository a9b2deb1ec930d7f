"""Where a runnable task stores the files it hands on (output files, downloads, consumed records)."""

from __future__ import annotations

import secrets

from kestra_stream.errors import TaskFailure
from kestra_stream.models.task import RunContext
from kestra_stream.storage import task_uri


def task_file_uri(ctx: RunContext, file_name: str) -> str:
    """A fresh URI below this task run's folder of internal storage, named as Kestra names output files."""
    variables = ctx.variables
    try:
        flow = variables["flow"]
        namespace, flow_id = str(flow["namespace"]), str(flow["id"])
        execution_id = str(variables["execution"]["id"])
        task_id = str(variables["task"]["id"])
    except (KeyError, TypeError) as exc:
        raise TaskFailure(f"cannot store file {file_name!r}: the run context lacks the flow, execution or task "
                          f"variables ({exc})") from exc
    unique = secrets.token_urlsafe(16).replace("_", "").replace("-", "")[:22]
    return task_uri(namespace, flow_id, execution_id, task_id, ctx.taskrun_id, f"{unique}-{file_name}")
