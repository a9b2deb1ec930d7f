"""User requests (create, kill, pause, resume, restart, replay, a task run's state) turned into events, for
any backend.

Everything is checked before an event exists: inputs are coerced and FILE inputs stored, a
resume's onResume inputs validated, a restart or a replay refused when the execution's state
does not allow it. The backend only says how an event is sent and how a state is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kestra_stream.errors import ExecutionStateError
from kestra_stream.executor.checks import failed_checks
from kestra_stream.executor.effects import FlowLookup, input_renderer
from kestra_stream.executor.events import (
    Event,
    ExecutionCreated,
    ExecutionReplayed,
    KillRequested,
    LabelsSet,
    PauseRequested,
    RestartRequested,
    ResumeRequested,
    TaskRunStateSet,
)
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.requests import check_replay, check_restart, check_taskrun_state, resume_inputs
from kestra_stream.executor.runtime import FlowInjection
from kestra_stream.ids import derive_id, new_id
from kestra_stream.inputs import coerce_inputs
from kestra_stream.models.execution import Execution
from kestra_stream.models.flow import Flow
from kestra_stream.models.state import StateType
from kestra_stream.storage import Storage, store_file_inputs


def _now() -> datetime:
    return datetime.now(UTC)


class ExecutionRequests:
    def __init__(self, send: Callable[[Event], Awaitable[None]], flows: FlowLookup,
                 state: Callable[[str], ExecutionState | None], *, storage: Storage | None,
                 envs: Mapping[str, str], globals_: Mapping[str, Any],
                 restarted: Callable[[str], None] | None = None,
                 load: Callable[[str], Awaitable[ExecutionState | None]] | None = None,
                 templates: FlowInjection | None = None) -> None:
        self._send = send
        # The executor's template injection: a resume reads the onResume inputs of a Pause a template included.
        self._templates = templates
        self._restarted = restarted
        self._flows = flows
        self._state = state
        # Where an execution no longer held in memory (ended long ago) is read back from, if anywhere.
        self._load = load
        self._storage = storage
        self._envs = dict(envs)
        self._globals = dict(globals_)

    async def create_execution(self, namespace: str, flow_id: str, inputs: Mapping[str, Any] | None = None, *,
                               labels: Mapping[str, str] | None = None, from_text: bool = False,
                               revision: int | None = None, trigger: dict[str, Any] | None = None,
                               execution_id: str | None = None, schedule_date: datetime | None = None) -> str:
        """Validate the inputs (InputError before anything exists), run the flow's checks (ExecutionBlockedError
        when one blocks), and start an execution.

        A caller that may ask twice for the same execution (a trigger firing a date again after a
        crash) passes a derived ``execution_id``: the executor ignores a second creation of it.
        """
        flow, number = self._flows.get(namespace, flow_id, revision)
        coerced = coerce_inputs(flow.inputs or [], inputs or {}, from_text=from_text, render=input_renderer(_now()))
        checked = failed_checks(flow, coerced, labels or {}, render=input_renderer(_now()), envs=self._envs,
                                globals_=self._globals)
        execution_id = execution_id or new_id()
        if self._storage is not None:
            coerced = await store_file_inputs(flow.inputs or [], coerced, self._storage, namespace=namespace,
                                              flow_id=flow_id, execution_id=execution_id)
        await self._send(ExecutionCreated(
            event_id=derive_id("created", execution_id), execution_id=execution_id, at=_now(), namespace=namespace,
            flow_id=flow_id, schedule_date=schedule_date,
            flow_revision=number, inputs=coerced, labels=dict(labels or {}), trigger=trigger, envs=self._envs,
            globals=self._globals, failed_checks=checked))
        return execution_id

    async def kill(self, execution_id: str) -> None:
        await self._send(KillRequested(event_id=new_id(), execution_id=execution_id, at=_now()))

    async def pause(self, execution_id: str) -> None:
        await self._send(PauseRequested(event_id=new_id(), execution_id=execution_id, at=_now()))

    async def resume(self, execution_id: str, inputs: Mapping[str, Any] | None = None, *,
                     from_text: bool = False) -> None:
        """Resume a paused execution; its Pause tasks' onResume inputs are validated (and defaulted) first."""
        state, flow = await self._existing(execution_id)
        coerced = resume_inputs(state.execution, flow, inputs or {}, from_text=from_text)
        await self._send(ResumeRequested(event_id=new_id(), execution_id=execution_id, at=_now(), inputs=coerced))

    async def restart(self, execution_id: str) -> None:
        state, _ = await self._existing(execution_id)
        check_restart(state.execution)
        await self._send(RestartRequested(event_id=new_id(), execution_id=execution_id, at=_now()))
        if self._restarted is not None:
            self._restarted(execution_id)

    async def set_taskrun_state(self, execution_id: str, taskrun_id: str, state: StateType) -> None:
        """Give a task run of an ended execution ``state`` (SUCCESS, FAILED, WARNING): the execution runs on."""
        current, _ = await self._existing(execution_id)
        check_taskrun_state(current.execution, taskrun_id, state)
        await self._send(TaskRunStateSet(event_id=new_id(), execution_id=execution_id, at=_now(),
                                         taskrun_id=taskrun_id, state=state))
        if self._restarted is not None:
            self._restarted(execution_id)

    async def replay(self, execution_id: str, taskrun_id: str | None = None) -> str:
        state, _ = await self._existing(execution_id)
        check_replay(state.execution, taskrun_id)
        replayed = new_id()
        await self._send(ExecutionReplayed(event_id=new_id(), execution_id=replayed, at=_now(),
                                           source=state.execution, taskrun_id=taskrun_id, envs=state.envs,
                                           globals=state.globals))
        return replayed

    async def set_labels(self, execution_id: str, labels: Mapping[str, str]) -> Execution:
        """Add or change labels of an execution, keeping the others; returns the execution as it becomes."""
        state, _ = await self._existing(execution_id)
        await self._send(LabelsSet(event_id=new_id(), execution_id=execution_id, at=_now(), labels=dict(labels)))
        execution = state.execution
        return execution.model_copy(update={"labels": {**execution.labels, **labels}})

    def latest_flow(self, namespace: str, flow_id: str) -> Flow:
        """The newest revision of a flow; BackendError when there is none."""
        return self._flows.get(namespace, flow_id, None)[0]

    async def execution(self, execution_id: str) -> Execution:
        """The execution as this backend knows it now; ExecutionStateError when it does not exist."""
        return (await self._existing(execution_id))[0].execution

    async def _existing(self, execution_id: str) -> tuple[ExecutionState, Flow]:
        state = self._state(execution_id)
        if state is None and self._load is not None:
            state = await self._load(execution_id)
        if state is None:
            raise ExecutionStateError(f"execution '{execution_id}' does not exist", execution_id=execution_id)
        ex = state.execution
        flow = self._flows.get(ex.namespace, ex.flow_id, ex.flow_revision)[0]
        if self._templates is not None:
            flow = await self._templates.inject(flow)
        return state, flow


class AcceptsRequests:
    """The request half of the Backend interface, for a class that holds an ``ExecutionRequests``."""

    requests: ExecutionRequests

    async def create_execution(self, namespace: str, flow_id: str, inputs: Mapping[str, Any] | None = None, *,
                               labels: Mapping[str, str] | None = None, from_text: bool = False,
                               revision: int | None = None, trigger: dict[str, Any] | None = None,
                               execution_id: str | None = None, schedule_date: datetime | None = None) -> str:
        return await self.requests.create_execution(namespace, flow_id, inputs, labels=labels, from_text=from_text,
                                                    revision=revision, trigger=trigger, execution_id=execution_id,
                                                    schedule_date=schedule_date)

    async def kill(self, execution_id: str) -> None:
        await self.requests.kill(execution_id)

    async def pause(self, execution_id: str) -> None:
        await self.requests.pause(execution_id)

    async def resume(self, execution_id: str, inputs: Mapping[str, Any] | None = None, *,
                     from_text: bool = False) -> None:
        await self.requests.resume(execution_id, inputs, from_text=from_text)

    async def restart(self, execution_id: str) -> None:
        await self.requests.restart(execution_id)

    async def set_taskrun_state(self, execution_id: str, taskrun_id: str, state: StateType) -> None:
        await self.requests.set_taskrun_state(execution_id, taskrun_id, state)

    async def replay(self, execution_id: str, taskrun_id: str | None = None) -> str:
        return await self.requests.replay(execution_id, taskrun_id)

    async def set_labels(self, execution_id: str, labels: Mapping[str, str]) -> Execution:
        return await self.requests.set_labels(execution_id, labels)
