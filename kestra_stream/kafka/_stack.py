"""The Kafka backend's components in one process: `server standalone --backend kafka` and
`execute --backend kafka`. Each component can also run alone (`kestra-stream executor`, `worker`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from kestra_stream.embedded import envs_from_environment
from kestra_stream.executor._requests import AcceptsRequests
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.kafka._executions import KafkaExecutions
from kestra_stream.kafka._flows import KafkaFlowStore
from kestra_stream.kafka._settings import KafkaSettings
from kestra_stream.kafka._topics import apply as apply_topics
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.plugins import PluginRegistry
from kestra_stream.storage import LocalStorage, Storage
from kestra_stream.templates import template_injector
from kestra_stream.worker.services import BackendServices, LogSource, Unavailable

if TYPE_CHECKING:
    from kestra_stream.kafka.executor import KafkaExecutor
    from kestra_stream.kafka.worker import KafkaWorker

log = structlog.get_logger(__name__)

_NO_HISTORY = ("from Elasticsearch, and this process was given none: set --elasticsearch-url "
               "(or KESTRA_STREAM_ELASTICSEARCH_URL) and the indexer's --index-prefix")


class KafkaStack(AcceptsRequests):
    def __init__(self, settings: KafkaSettings, *, home: Path, storage: Storage | None = None,
                 executor: bool = True, worker: bool = True, environ: Mapping[str, str] | None = None,
                 globals_: Mapping[str, Any] | None = None, registry: PluginRegistry | None = None,
                 follow_executions: bool = True) -> None:
        """``follow_executions=False``: the executions client sends requests and reads nothing else (a worker
        process, whose CPU and memory belong to its tasks); ``wait``, ``state`` and ``logs`` then know no
        execution, and its tasks read log lines from Elasticsearch (``use_indexed_history``) or fail saying so."""
        self.settings = settings
        self.home = home
        self.storage = storage or LocalStorage(home / "storage")
        self._with_executor = executor
        self._with_worker = worker
        self.flows = KafkaFlowStore(settings, registry=registry)
        # What includes the templates of flow.Template tasks (None while templates are off), for the executor and
        # for the requests that read a flow's tasks (a resume's onResume inputs).
        self._templates = template_injector(self.storage, registry=registry)
        self.executions = KafkaExecutions(settings, self.flows, storage=self.storage,
                                          envs=envs_from_environment(os.environ if environ is None else environ),
                                          globals_=globals_, follow=follow_executions, templates=self._templates)
        self.requests = self.executions.requests
        logs: LogSource = self.executions if follow_executions else Unavailable(
            f"this process does not follow the executions and logs topics; it reads log lines {_NO_HISTORY}")
        self.services = BackendServices(logs, self.requests,
                                        without_history=f"on Kafka the history of executions is read {_NO_HISTORY}")
        self._components: list[Any] = []
        self.executor: KafkaExecutor | None = None
        self.worker: KafkaWorker | None = None

    async def start(self) -> None:
        # Imported here: faust is heavy, and only the components that run need it.
        from kestra_stream.kafka.executor import create_executor
        from kestra_stream.kafka.worker import KafkaWorker

        apply_topics(self.settings)
        await self.flows.start()
        self._components.append(self.flows)
        if self._with_executor:
            executor = create_executor(self.settings, self.flows, templates=self._templates)
            await executor.start()
            self._components.append(executor)
            self.executor = executor
        if self._with_worker:
            worker = KafkaWorker(self.settings, storage=self.storage, workdir_root=self.home / "work",
                                 services=self.services)
            await worker.start()
            self._components.append(worker)
            self.worker = worker
        await self.executions.start()
        self._components.append(self.executions)
        log.info("kafka_stack_started", bootstrap=self.settings.bootstrap_servers, prefix=self.settings.topic_prefix)

    async def stop(self) -> None:
        while self._components:
            await self._components.pop().stop()

    async def __aenter__(self) -> KafkaStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- the Backend interface ----------------------------------------------------------------
    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        return self.flows.deploy(source, file=file)

    async def wait(self, execution_id: str, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        return await self.executions.wait(execution_id, timeout)

    def state(self, execution_id: str) -> ExecutionState | None:
        return self.executions.state(execution_id)

    def logs(self, execution_id: str) -> list[LogEntry]:
        return self.executions.logs(execution_id)

    def subscribe(self, listener: Callable[[ExecutionState], None]) -> None:
        self.executions.subscribe(listener)

    def subscribe_logs(self, listener: Callable[[list[LogEntry]], None]) -> None:
        self.executions.subscribe_logs(listener)

    async def delete_execution(self, execution_id: str) -> int | None:
        return await self.executions.delete_execution(execution_id)
