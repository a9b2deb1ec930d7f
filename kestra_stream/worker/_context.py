"""The RunContext a runnable task sees during one attempt, built from its worker job."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from kestra_stream import encryption
from kestra_stream.errors import ExpressionError, TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.expressions import default_engine
from kestra_stream.kv import KVStore
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import LogLevel
from kestra_stream.search import CountQuery, ExecutionPurge, FlowExecutions, LogPurge, Purged
from kestra_stream.storage import (
    PREFIX,
    ScopedStorage,
    Storage,
    StorageError,
    child_uri,
    execution_uri,
    namespace_files_uri,
)
from kestra_stream.worker.services import TaskServices, Unavailable

MASK = "******"
# Shorter lines of a multi-line secret (a lone brace, a blank) would mask ordinary text.
MIN_MASKED_LINE = 4

T = TypeVar("T")


class WorkerFunctions:
    """Expression functions with I/O, as a worker offers them.

    ``secret('NAME')`` reads the environment variable ``SECRET_NAME`` holding base64 text, as
    Kestra's open-source edition does; every secret read is remembered so the context can mask it.
    ``kv()`` reads the KV store of a namespace (the flow's by default); ``read()`` and ``fileSize()``
    reach internal storage, limited to the files of the execution's flow and its namespace files.

    Expressions are rendered synchronously (jinja calls these functions in the middle of a render)
    while storage is async. The storage call runs to its end on a fresh event loop in a helper
    thread, blocking the caller for that time: storage calls are short and already run their I/O in
    threads, every ``Storage`` here is bound to no loop, and this keeps rendering one synchronous
    pass with any key computed by the template itself (which pre-fetching could not know).
    """

    def __init__(self, environ: Mapping[str, str], on_secret: Callable[[str], None], *,
                 storage: Storage | None = None, namespace: str | None = None,
                 flow_id: str | None = None, parent_execution: str | None = None,
                 execution_id: str | None = None, services: TaskServices | None = None) -> None:
        self._environ = environ
        self._execution_id = execution_id
        self._services = services
        self._on_secret = on_secret
        self._storage = storage
        self._namespace = namespace
        self._flow_id = flow_id
        self._parent_execution = parent_execution

    @cached_property
    def _scoped(self) -> ScopedStorage | None:
        """Built on first use: most tasks never call read() or fileSize(), and every task has these functions."""
        if self._storage is None or not self._namespace or not self._flow_id:
            return None
        # A subflow execution reads its parent execution's files too (Kestra's read(): a batch of ForEachItem).
        return ScopedStorage.for_flow(self._storage, self._namespace, self._flow_id,
                                      also=[self._parent_execution] if self._parent_execution else ())

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

    def kv(self, key: str, namespace: str | None = None, error_on_missing: bool = False) -> Any:
        call = f"kv('{key}')"
        target = namespace or self._namespace
        if self._storage is None or not target:
            raise ExpressionError(call, "the KV store needs internal storage and a namespace; kv() can "
                                  "only be used in the properties of a task run by a worker")
        store = KVStore(self._storage, target)
        return _blocking(call, lambda: store.value(key, error_on_missing=error_on_missing))

    def random_bits(self, bits: int) -> int:
        return secrets.randbits(bits)

    def nonce(self, size: int) -> bytes:
        return secrets.token_bytes(size)

    def read(self, uri: str) -> str:
        call = f"read('{uri}')"
        storage = self._require_scoped(call)
        target = self._target(call, uri)
        data = _blocking(call, lambda: storage.get(target))
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise ExpressionError(call, f"the file {target} is not UTF-8 text ({exc.reason} at byte "
                                  f"{exc.start}); pass its URI to a task instead of reading it") from exc

    def file_size(self, uri: str) -> int:
        call = f"fileSize('{uri}')"
        storage = self._require_scoped(call)
        target = self._target(call, uri)
        return _blocking(call, lambda: storage.size(target))

    def error_logs(self) -> list[dict[str, Any]]:
        # Read when called: the render blocks this worker's loop meanwhile, so the store is not used
        # concurrently (the embedded engine's connection), and a Kafka client reads on its own thread.
        services, execution_id = self._services, self._execution_id
        if services is None or execution_id is None:
            raise ExpressionError("errorLogs()", "the logs are not reachable here; errorLogs() can only be used "
                                  "in the properties of a task run by a worker")
        lines = _blocking("errorLogs()", lambda: services.execution_logs(execution_id))
        return [line.model_dump(mode="json", exclude_none=True) for line in lines if line.level == LogLevel.ERROR]

    def _require_scoped(self, call: str) -> ScopedStorage:
        if self._scoped is None:
            raise ExpressionError(call, "internal storage is not available here; read() and fileSize() "
                                  "can only be used in the properties of a task run by a worker")
        return self._scoped

    def _target(self, call: str, path: str) -> str:
        # Kestra's read() takes a namespace file's path as well as a kestra:// URI.
        if path.startswith(PREFIX) or not self._namespace:
            return path
        try:
            return child_uri(namespace_files_uri(self._namespace), *path.strip("/").split("/"))
        except StorageError as exc:
            raise ExpressionError(call, f"{path!r} is neither a kestra:// URI nor a namespace file path: "
                                  f"{exc}") from exc


def _blocking(call: str, action: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a storage coroutine to its end from synchronous code, in or out of an event loop."""
    def run() -> T:
        return asyncio.run(action())

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        in_loop = False
    else:
        in_loop = True
    try:
        if not in_loop:
            return run()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="expression-io") as pool:
            return pool.submit(run).result()
    except StorageError as exc:
        raise ExpressionError(call, str(exc)) from exc


def _input_value(variables: Mapping[str, Any], input_id: str) -> Any:
    """``inputs.<id>``, where a dotted id is nested (``inputs.db.password``)."""
    node: Any = variables.get("inputs") or {}
    if input_id in node:
        return node[input_id]
    for part in input_id.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _parent_execution(variables: Mapping[str, Any]) -> str | None:
    """The storage folder of the execution that started this one as a subflow (its trigger), if any."""
    trigger = variables.get("trigger")
    if not isinstance(trigger, Mapping):
        return None
    parts = [trigger.get(key) for key in ("namespace", "flowId", "executionId")]
    if not all(isinstance(part, str) and part for part in parts):
        return None
    try:
        return execution_uri(*(str(part) for part in parts))
    except StorageError:
        return None


class TaskRunContext:
    def __init__(self, job: RunTask, *, emit_log: Callable[[LogEntry], None], storage: Storage,
                 workdir_root: Path, environ: Mapping[str, str] | None = None,
                 services: TaskServices | None = None) -> None:
        self._job = job
        self._services = services or Unavailable("this worker runs without a store of executions")
        self._emit = emit_log
        self._storage = storage
        self._workdir_root = workdir_root
        self._workdir: Path | None = None
        self._secrets: set[str] = {value for input_id in job.secret_inputs
                                   if isinstance(value := _input_value(job.variables, input_id), str)}
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._functions = WorkerFunctions(self._environ, self._secrets.add,
                                          storage=storage, namespace=job.namespace, flow_id=job.flow_id,
                                          parent_execution=_parent_execution(job.variables),
                                          execution_id=job.execution_id, services=self._services)
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
        return self._variables

    @cached_property
    def _variables(self) -> Mapping[str, Any]:
        """The job's variables, with the encrypted outputs of earlier tasks (encryptBody) in clear text,
        as Kestra's worker renders them."""
        variables = self._job.variables
        outputs = variables.get("outputs")
        if not isinstance(outputs, Mapping) or not encryption.contains_encrypted(outputs):
            return variables
        try:
            key = encryption.key_from(self._environ)
        except encryption.EncryptionError as exc:
            # As Kestra: without a key the encrypted outputs are seen as they are, with a warning.
            self.log(LogLevel.WARN, f"encrypted outputs are left encrypted: {exc}")
            return variables
        try:
            clear = encryption.decrypt_values(outputs, key)
        except encryption.EncryptionError as exc:
            raise TaskFailure(f"cannot decrypt the encrypted outputs of earlier tasks: {exc}") from exc
        return {**variables, "outputs": clear}

    def encrypt(self, plaintext: str) -> dict[str, str]:
        """``plaintext`` as an encrypted output under the server's key; fails the task when there is no key."""
        try:
            return encryption.encrypted_string(encryption.key_from(self._environ), plaintext)
        except encryption.EncryptionError as exc:
            raise TaskFailure(str(exc)) from exc

    @property
    def namespace(self) -> str:
        return self._job.namespace

    @property
    def flow_id(self) -> str:
        return self._job.flow_id

    @property
    def storage(self) -> Storage:
        """Internal storage as far as this task may reach it: its flow's files and its namespace's files."""
        return ScopedStorage.for_flow(self._storage, self._job.namespace, self._job.flow_id)

    async def execution_logs(self, execution_id: str) -> list[LogEntry]:
        """Every log line of an execution stored so far (any execution: Kestra's log.Fetch reads any)."""
        return await self._services.execution_logs(execution_id)

    async def resume_execution(self, namespace: str | None, flow_id: str | None, execution_id: str,
                               inputs: Mapping[str, Any] | None) -> None:
        await self._services.resume_execution(namespace, flow_id, execution_id, inputs)

    async def set_trigger_enabled(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> None:
        await self._services.set_trigger_enabled(namespace, flow_id, trigger_id, enabled)

    async def count_executions(self, query: CountQuery) -> list[FlowExecutions]:
        return await self._services.count_executions(query)

    async def purge_executions(self, purge: ExecutionPurge) -> Purged:
        return await self._services.purge_executions(purge)

    async def purge_logs(self, purge: LogPurge) -> int:
        return await self._services.purge_logs(purge)

    def namespace_files(self, namespace: str | None = None) -> ScopedStorage:
        """The files of ``namespace`` (the flow's by default), any namespace being reachable as in Kestra's
        open-source edition; URIs below ``namespace_files_uri(namespace)``."""
        return ScopedStorage(self._storage, [namespace_files_uri(namespace or self._job.namespace)])

    def kv_store(self, namespace: str | None = None) -> KVStore:
        """The KV store of ``namespace`` (the flow's by default); every namespace is reachable, as in
        Kestra's open-source edition."""
        return KVStore(self._storage, namespace or self._job.namespace)

    def render(self, value: Any) -> Any:
        return default_engine().render_typed(value, self._variables, self._functions)

    def render_with(self, value: Any, extra: Mapping[str, Any]) -> Any:
        """``value`` rendered with ``extra`` variables beside the job's (execution.Count's ``count``)."""
        return default_engine().render_typed(value, {**self._variables, **extra}, self._functions)

    def render_string(self, value: Any) -> str:
        rendered = self.render(value)
        return rendered if isinstance(rendered, str) else default_engine().render(
            "{{ value }}", {"value": rendered}, self._functions)

    def render_string_with(self, template: str, variables: Mapping[str, Any]) -> str:
        return default_engine().render(template, {**self._variables, **variables}, self._functions)

    def mask(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole. The lines of a multi-line
        # secret are masked one by one too: scripts log their output a line at a time.
        for secret in sorted(self._masked(), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def _masked(self) -> set[str]:
        values: set[str] = set()
        for secret in self._secrets:
            if not secret:
                continue
            values.add(secret)
            if "\n" in secret:
                values.update(line for raw in secret.splitlines() if len(line := raw.strip()) >= MIN_MASKED_LINE)
        return values

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
