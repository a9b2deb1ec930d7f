"""The RunContext a runnable task sees during one attempt, built from its worker job."""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kestra_stream.errors import ExpressionError
from kestra_stream.executor.commands import RunTask
from kestra_stream.expressions import default_engine
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import LogLevel
from kestra_stream.storage import Storage

MASK = "******"


class WorkerFunctions:
    """Expression functions with I/O, as a worker offers them.

    ``secret('NAME')`` reads the environment variable ``SECRET_NAME`` holding base64 text, as
    Kestra's open-source edition does; every secret read is remembered so the context can mask it.
    """

    def __init__(self, environ: Mapping[str, str], on_secret: Callable[[str], None]) -> None:
        self._environ = environ
        self._on_secret = on_secret

    def now(self) -> datetime:
        return datetime.now(UTC)

    def secret(self, name: str) -> str:
        raw = self._environ.get(f"SECRET_{name}")
        if raw is None:
            raise ExpressionError(f"secret('{name}')", f"no secret named '{name}': set the environment "
                                  f"variable SECRET_{name} to its value encoded in base64 on the worker")
        try:
            value = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ExpressionError(f"secret('{name}')", f"SECRET_{name} is not valid base64 text") from exc
        self._on_secret(value)
        return value

    def kv(self, key: str, namespace: str | None = None, error_on_missing: bool = True) -> Any:
        raise ExpressionError(f"kv('{key}')", "the KV store is not available on this worker yet")

    def read(self, uri: str) -> str:
        raise ExpressionError(f"read('{uri}')", "read() is not available on this worker yet")

    def file_size(self, uri: str) -> int:
        raise ExpressionError(f"fileSize('{uri}')", "fileSize() is not available on this worker yet")


class TaskRunContext:
    def __init__(self, job: RunTask, *, emit_log: Callable[[LogEntry], None], storage: Storage,
                 workdir_root: Path, environ: Mapping[str, str] | None = None) -> None:
        self._job = job
        self._emit = emit_log
        self._storage = storage
        self._workdir_root = workdir_root
        self._workdir: Path | None = None
        self._secrets: set[str] = set()
        self._functions = WorkerFunctions(os.environ if environ is None else environ, self._secrets.add)
        self.labels: dict[str, str] = {}
        self.warning: str | None = None

    @property
    def execution_id(self) -> str:
        return self._job.execution_id

    @property
    def taskrun_id(self) -> str:
        return self._job.taskrun_id

    @property
    def attempt_number(self) -> int:
        return self._job.attempt

    @property
    def variables(self) -> Mapping[str, Any]:
        return self._job.variables

    @property
    def storage(self) -> Storage:
        return self._storage

    def render(self, value: Any) -> Any:
        return default_engine().render_typed(value, self._job.variables, self._functions)

    def render_string(self, value: Any) -> str:
        rendered = self.render(value)
        return rendered if isinstance(rendered, str) else default_engine().render(
            "{{ value }}", {"value": rendered}, self._functions)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text

    def mask_outputs(self, outputs: Any) -> Any:
        """Secret values never leave the attempt, not even inside outputs."""
        if not self._secrets:
            return outputs
        if isinstance(outputs, str):
            return self.mask(outputs)
        if isinstance(outputs, Mapping):
            return {k: self.mask_outputs(v) for k, v in outputs.items()}
        if isinstance(outputs, list | tuple):
            return [self.mask_outputs(v) for v in outputs]
        return outputs

    def log(self, level: LogLevel, message: str) -> None:
        minimum = self._job.min_log_level
        if minimum is not None and level.rank < minimum.rank:
            return
        job = self._job
        self._emit(LogEntry(execution_id=job.execution_id, namespace=job.namespace, flow_id=job.flow_id,
                            task_id=job.task.id, taskrun_id=job.taskrun_id, attempt_number=job.attempt,
                            level=level, message=self.mask(message), timestamp=datetime.now(UTC)))

    def set_labels(self, labels: Mapping[str, str]) -> None:
        self.labels.update({str(k): str(v) for k, v in labels.items()})

    def set_warning(self, reason: str) -> None:
        self.warning = reason

    def working_directory(self) -> Path:
        if self._workdir is None:
            self._workdir_root.mkdir(parents=True, exist_ok=True)
            self._workdir = Path(tempfile.mkdtemp(prefix=f"{self._job.task.id}-", dir=self._workdir_root))
        return self._workdir

    def cleanup(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
