"""The Kafka backend's executor: a faust-streaming app folding the executor inbox into a state table."""

from kestra_stream.kafka.executor._app import KafkaExecutor, StateListener, create_executor
from kestra_stream.kafka.executor._outbox import FlowLookup, Outgoing, Plan, child_creation, plan_commands
from kestra_stream.kafka.executor._slots import SlotBook, SlotRequest, apply_request, slot_key

__all__ = [
    "FlowLookup",
    "KafkaExecutor",
    "Outgoing",
    "Plan",
    "SlotBook",
    "SlotRequest",
    "StateListener",
    "apply_request",
    "child_creation",
    "create_executor",
    "plan_commands",
    "slot_key",
]
