"""What every trigger kind shares, and the components that fire flow and realtime triggers.

``emit_execution`` starts the execution of a firing (an id derived from what fired, so a firing
asked twice starts one execution); ``BackendTriggerContext`` is what polling and realtime
triggers run in. ``FlowTriggers`` fires Flow triggers as executions end; ``RealtimeTriggers``
runs one listener per realtime trigger. Schedules and polling triggers: ``kestra_stream.scheduler``.
"""

from kestra_stream.triggers._context import (
    UNGROUPED,
    BackendTriggerContext,
    conditions_hold,
    emit_execution,
    render_with_trigger,
    trigger_kind,
    trigger_labels,
    trigger_scope,
    trigger_uid,
    triggered_execution_id,
)
from kestra_stream.triggers._flow import UpstreamEvent, evaluate, trigger_variables
from kestra_stream.triggers._flow_source import (
    BackendStateSource,
    KafkaStateSource,
    Received,
    StateSource,
    flow_trigger_group_id,
)
from kestra_stream.triggers._flow_triggers import FlowTriggers
from kestra_stream.triggers._log_file import TriggerLine
from kestra_stream.triggers._realtime import Backoff, RealtimeTriggers

__all__ = [
    "UNGROUPED",
    "BackendStateSource",
    "BackendTriggerContext",
    "Backoff",
    "FlowTriggers",
    "KafkaStateSource",
    "RealtimeTriggers",
    "Received",
    "StateSource",
    "TriggerLine",
    "UpstreamEvent",
    "conditions_hold",
    "emit_execution",
    "evaluate",
    "flow_trigger_group_id",
    "render_with_trigger",
    "trigger_kind",
    "trigger_labels",
    "trigger_scope",
    "trigger_uid",
    "trigger_variables",
    "triggered_execution_id",
]
