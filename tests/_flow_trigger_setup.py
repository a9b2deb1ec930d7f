"""What the Flow-trigger tests (tests/e2e/test_flow_trigger.py, the compat conditions) run on: a backend, its
flows, the triggers' home; on Kafka one stack a module, on its own topics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kestra_stream.backend import Backend, LatestFlows
from kestra_stream.kafka import KafkaSettings, KafkaStack, delete_topics
from tests.e2e.conftest import E2E_ENVIRON, START_TIMEOUT, LoopThread


@dataclass
class Setup:
    backend: Backend
    flows: LatestFlows
    home: Path


def started_kafka_stack(bootstrap: str, home: Path, name: str) -> Iterator[tuple[KafkaStack, LoopThread]]:
    """A started Kafka stack on topics of its own (``name`` in their prefix), stopped and deleted after."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"{name}-{uuid.uuid4().hex[:8]}.",
                             partitions=2)
    stack = KafkaStack(settings, home=home, environ=E2E_ENVIRON)
    loop = LoopThread(f"{name}-stack")
    try:
        loop.run(stack.start(), START_TIMEOUT)
        yield stack, loop
    finally:
        loop.run(stack.stop(), START_TIMEOUT)
        loop.close()
        delete_topics(settings)
