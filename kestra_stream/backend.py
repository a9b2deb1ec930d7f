"""What every backend offers its callers (CLI, API, tests): flows in, executions out.

Two implementations: ``kestra_stream.embedded.EmbeddedEngine`` and ``kestra_stream.kafka.KafkaStack``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry


class FlowRepository(Protocol):
    """Flows and their revisions (``EmbeddedEngine.flows``, ``KafkaStack.flows``); a revision never changes."""

    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source becomes a new revision."""

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        """A revision of a flow (the latest by default); NotFoundError when there is none."""

    def all_latest(self) -> list[Flow]:
        """The latest revision of every flow that is not deleted."""


class Backend(Protocol):
    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source becomes a new revision."""

    async def create_execution(self, namespace: str, flow_id: str, inputs: Mapping[str, Any] | None = None, *,
                               labels: Mapping[str, str] | None = None, from_text: bool = False,
                               revision: int | None = None, trigger: dict[str, Any] | None = None,
                               execution_id: str | None = None) -> str:
        """Validate the inputs (InputError before anything exists) and start an execution."""

    async def wait(self, execution_id: str, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        """The execution once finished (final state and afterExecution tasks ended)."""

    def state(self, execution_id: str) -> ExecutionState | None: ...
    def logs(self, execution_id: str) -> list[LogEntry]: ...
    def subscribe(self, listener: Callable[[ExecutionState], None]) -> None: ...
    async def kill(self, execution_id: str) -> None: ...
    async def pause(self, execution_id: str) -> None: ...
    async def resume(self, execution_id: str, inputs: Mapping[str, Any] | None = None, *,
                     from_text: bool = False) -> None: ...
    async def restart(self, execution_id: str) -> None: ...
    async def replay(self, execution_id: str, taskrun_id: str | None = None) -> str: ...
