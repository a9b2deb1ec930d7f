"""What every trigger kind shares: starting an execution for a firing, and the context polling
and realtime triggers run in. The components that fire them: ``kestra_stream.scheduler``
(schedules, polling triggers), flow triggers and realtime triggers (this package)."""

from kestra_stream.triggers._context import (
    BackendTriggerContext,
    emit_execution,
    render_with_trigger,
    trigger_labels,
    trigger_uid,
    triggered_execution_id,
)

__all__ = [
    "BackendTriggerContext",
    "emit_execution",
    "render_with_trigger",
    "trigger_labels",
    "trigger_uid",
    "triggered_execution_id",
]
