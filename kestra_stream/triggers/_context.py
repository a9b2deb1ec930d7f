"""How any trigger starts an execution: the ``TriggerContext`` polling and realtime triggers get,
and the one function schedules, flow triggers and webhooks use to emit.

An emitted execution carries Kestra's ``trigger`` block (id, type, variables), the trigger's
``inputs`` and ``labels`` rendered with ``{{ trigger.* }}``, and, when the caller names what
fired (a date, a record's offset, an upstream execution), an id derived from it: asking twice
for the same firing creates one execution, whichever process asks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from kestra_stream import encryption
from kestra_stream.backend import Backend
from kestra_stream.errors import KestraStreamError
from kestra_stream.expressions import FixedFunctions, default_engine
from kestra_stream.ids import derive_id, new_id
from kestra_stream.models.execution import TriggeredBy, execution_trigger
from kestra_stream.models.flow import Flow
from kestra_stream.models.task import ConditionContext, LogLevel, PollingTrigger, RealtimeTrigger, Trigger
from kestra_stream.plugins.spi import FlowTrigger, WebhookTrigger
from kestra_stream.storage import ScopedStorage, Storage, child_uri, trigger_uri
from kestra_stream.triggers._log_file import TriggerLine, TriggerLines, store_trigger_log

log = structlog.get_logger(__name__)

# What a process of no worker group evaluates: the triggers without a workerGroup (every date, flow
# and webhook trigger among them). A process started with a key evaluates that key's triggers instead.
UNGROUPED: frozenset[str | None] = frozenset({None})


def trigger_uid(flow: Flow, trigger: Trigger) -> str:
    """The name of a trigger's state everywhere: ``namespace/flowId/triggerId``."""
    return f"{flow.namespace}/{flow.id}/{trigger.id}"


def triggered_execution_id(flow: Flow, trigger: Trigger, key: str) -> str:
    """The id of the execution a trigger starts for the firing named ``key``."""
    return derive_id("trigger", trigger_uid(flow, trigger), key)


def trigger_kind(trigger: Trigger) -> TriggeredBy:
    """What an execution this trigger starts is triggered by, from the engine base its class extends."""
    if isinstance(trigger, WebhookTrigger):
        return TriggeredBy.WEBHOOK
    if isinstance(trigger, FlowTrigger):
        return TriggeredBy.FLOW
    if isinstance(trigger, RealtimeTrigger):
        return TriggeredBy.REALTIME
    if isinstance(trigger, PollingTrigger):
        return TriggeredBy.POLLING
    # Nothing else fires but the scheduler's date triggers (Schedule, ScheduleOnDates and their backfills).
    return TriggeredBy.SCHEDULE


def trigger_labels(trigger: Trigger) -> dict[str, str]:
    labels = trigger.labels
    if labels is None:
        return {}
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    return {str(item["key"]): str(item["value"]) for item in labels}


def trigger_scope(flow: Flow, variables: Mapping[str, Any]) -> dict[str, Any]:
    """What a trigger's properties and conditions render with: ``flow.*``, ``trigger.*`` and ``vars.*``."""
    return {"flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "trigger": dict(variables), "vars": flow.variables or {}}


def render_with_trigger(value: Any, flow: Flow, variables: Mapping[str, Any], at: datetime) -> Any:
    """Render a trigger property (inputs, labels, a key) with ``flow.*`` and ``trigger.*``."""
    return default_engine().render_typed(value, trigger_scope(flow, variables), FixedFunctions(at))


def conditions_hold(flow: Flow, trigger: Trigger, variables: Mapping[str, Any], at: datetime) -> bool:
    """Whether every condition of ``trigger`` (a Schedule's older ``scheduleConditions`` too) allows firing at ``at``.

    A condition that cannot be evaluated raises (PluginError, ExpressionError): the caller decides.
    """
    conditions = [*(trigger.conditions or ()), *(getattr(trigger, "schedule_conditions", None) or ())]
    if not conditions:
        return True
    ctx = ConditionContext(flow=flow, variables=trigger_scope(flow, variables), date=at)
    return all(condition.test(ctx) for condition in conditions)


async def emit_execution(backend: Backend, flow: Flow, trigger: Trigger, variables: Mapping[str, Any], *,
                         key: str | None = None, at: datetime | None = None,
                         inputs: Mapping[str, Any] | None = None, schedule_date: datetime | None = None,
                         storage: Storage | None = None, lines: Sequence[TriggerLine] = ()) -> str:
    """Start one execution of ``flow`` for ``trigger`` and return its id once durably created.

    ``inputs`` default to the trigger's own ``inputs`` property (when it has one); either way they
    are rendered with the trigger variables and validated against the flow's inputs. A schedule
    passes the date it fires as ``schedule_date`` (``{{ execution.scheduleDate }}``). A trigger with
    logToFile has ``lines`` (what it logged for this firing) written to ``storage`` first, the file
    named on the execution's trigger block.
    """
    when = at or datetime.now(UTC)
    declared = inputs if inputs is not None else getattr(trigger, "inputs", None)
    rendered_inputs = render_with_trigger(dict(declared), flow, variables, when) if declared else None
    labels = {k: str(v) for k, v in render_with_trigger(trigger_labels(trigger), flow, variables, when).items()}
    execution_id = triggered_execution_id(flow, trigger, key) if key is not None else None
    log_file = None
    if trigger.log_to_file:
        if storage is None:
            raise KestraStreamError(f"trigger {trigger_uid(flow, trigger)} has logToFile but this component was "
                                    "started without internal storage")
        # Named now, not by the backend: the file lives in the execution's folder, written before it exists.
        execution_id = execution_id or new_id()
        log_file = await store_trigger_log(storage, flow, trigger, execution_id, lines, when)
    return await backend.create_execution(
        flow.namespace, flow.id, rendered_inputs, labels=labels, revision=flow.revision,
        trigger=execution_trigger(trigger.id, trigger.type, dict(variables), trigger_kind(trigger), log_file),
        execution_id=execution_id, schedule_date=schedule_date)


class BackendTriggerContext:
    """A ``TriggerContext`` over a backend: what the scheduler hands a polling or realtime trigger."""

    def __init__(self, backend: Backend, flow: Flow, trigger: Trigger, storage: Storage) -> None:
        self._backend = backend
        self._flow = flow
        self._trigger = trigger
        self._storage = ScopedStorage.for_flow(storage, flow.namespace, flow.id)
        self._log = log.bind(namespace=flow.namespace, flow_id=flow.id, trigger_id=trigger.id)
        self._lines = TriggerLines() if trigger.log_to_file else None

    @property
    def flow(self) -> Flow:
        return self._flow

    @property
    def storage(self) -> Storage:
        return self._storage

    def file_uri(self, key: str, name: str) -> str:
        execution_id = triggered_execution_id(self._flow, self._trigger, key)
        return child_uri(trigger_uri(self._flow.namespace, self._flow.id, execution_id, self._trigger.id), name)

    def render(self, value: Any) -> Any:
        return render_with_trigger(value, self._flow, {}, datetime.now(UTC))

    def render_with(self, value: Any, extra: Mapping[str, Any]) -> Any:
        scope = {**trigger_scope(self._flow, {}), **extra}
        return default_engine().render_typed(value, scope, FixedFunctions(datetime.now(UTC)))

    def encrypt(self, plaintext: str) -> dict[str, str]:
        # The scheduler's environment: `server standalone` gives its children the same one, so the
        # scheduler and the workers hold one key.
        return encryption.encrypted_string(encryption.key_from(os.environ), plaintext)

    def log(self, level: LogLevel, message: str) -> None:
        kept = self._trigger.kept_log_level
        if kept is not None and level.rank < kept.rank:
            return
        self._log.log(_LEVELS[level], message)
        if self._lines is not None:
            self._lines.add(TriggerLine(datetime.now(UTC), level, message))

    def logged(self) -> list[TriggerLine]:
        """The lines logged since the last emit (logToFile; none otherwise), taken from the buffer."""
        return self._lines.take() if self._lines is not None else []

    async def emit(self, variables: Mapping[str, Any], *, key: str | None = None) -> str:
        lines = self.logged()
        execution_id = await emit_execution(self._backend, self._flow, self._trigger, variables, key=key,
                                            storage=self._storage, lines=lines)
        self._log.debug("trigger_emitted", execution_id=execution_id, key=key)
        return execution_id


_LEVELS = {LogLevel.TRACE: 10, LogLevel.DEBUG: 10, LogLevel.INFO: 20, LogLevel.WARN: 30, LogLevel.ERROR: 40}
