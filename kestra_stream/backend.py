"""What every backend offers its callers (CLI, API, tests): flows in, executions out.

Two implementations: ``kestra_stream.embedded.EmbeddedEngine`` and ``kestra_stream.kafka.KafkaStack``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from kestra_stream.executor.fold import ExecutionState
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.log import LogEntry
from kestra_stream.models.state import StateType


class LatestFlows(Protocol):
    """What trigger components watch: the latest revision of every flow that is not deleted."""

    def all_latest(self) -> list[Flow]: ...


class FlowRepository(LatestFlows, Protocol):
    """Flows and their revisions (``EmbeddedEngine.flows``, ``KafkaStack.flows``); a revision never changes."""

    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source becomes a new revision."""

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        """A revision of a flow (the latest by default); NotFoundError when there is none."""

    def all_latest(self) -> list[Flow]:
        """The latest revision of every flow that is not deleted."""

    def parse(self, source: str, *, file: str | None = None) -> Flow:
        """Validate a flow exactly as ``deploy`` would (same plugins and defaults), without storing it."""

    def revisions(self, namespace: str, flow_id: str) -> list[Flow]:
        """Every revision of a flow, oldest first, its deletions included (``deleted``); empty if never deployed."""

    def delete(self, namespace: str, flow_id: str) -> Flow:
        """Delete a flow as Kestra does; returns the deletion revision.

        The last source is stored again under the next revision number, marked ``deleted``: the flow
        disappears from ``get`` (latest) and ``all_latest`` while its earlier revisions stay readable
        for their executions, and deploying it again continues the numbering. NotFoundError when
        there is no live flow of that name.
        """


class Backend(Protocol):
    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source becomes a new revision."""

    async def create_execution(self, namespace: str, flow_id: str, inputs: Mapping[str, Any] | None = None, *,
                               labels: Mapping[str, str] | None = None, from_text: bool = False,
                               revision: int | None = None, trigger: dict[str, Any] | None = None,
                               execution_id: str | None = None, schedule_date: datetime | None = None) -> str:
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
    async def set_taskrun_state(self, execution_id: str, taskrun_id: str, state: StateType) -> None:
        """Give a task run of an ended execution SUCCESS, FAILED or WARNING; the execution runs on from there."""

    async def set_labels(self, execution_id: str, labels: Mapping[str, str]) -> Execution:
        """Add or change labels of an execution (others kept); the execution with its new labels."""

    async def delete_execution(self, execution_id: str) -> int | None:
        """Forget an ended execution: its state, its logs and its events.

        Returns the deletion's version for the search index, above every version of the execution
        an indexer may still write there (``SearchRepository.delete_execution``); None where the
        index follows the backend in step, so nothing older can come after the deletion.
        """
