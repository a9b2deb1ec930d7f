"""The Kafka backend's executor: a faust-streaming app folding the executor inbox into a state table."""

from kestra_stream.executor.effects import FlowLookup
from kestra_stream.kafka.executor._app import KafkaExecutor, StateListener, create_executor
from kestra_stream.kafka.executor._outbox import Outgoing, Plan, plan_commands

__all__ = [
    "FlowLookup",
    "KafkaExecutor",
    "Outgoing",
    "Plan",
    "StateListener",
    "create_executor",
    "plan_commands",
]
