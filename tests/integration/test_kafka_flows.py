"""The flows topic is the source of truth: revisions published by one store are read by another."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from kestra_stream.kafka import KafkaSettings
from kestra_stream.kafka._flows import KafkaFlowStore

pytestmark = pytest.mark.kafka

FLOW = """
id: stored
namespace: it.flows
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: {message}
"""


@pytest.fixture
def settings(kafka_bootstrap: str) -> KafkaSettings:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"it-{uuid.uuid4().hex[:8]}.",
                             partitions=2)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(settings.topic("flows"), num_partitions=2, replication_factor=1,
                                            config={"cleanup.policy": "compact"})])
    for future in futures.values():
        future.result(10)
    return settings


async def test_a_second_store_reads_every_revision_published_by_the_first(settings: KafkaSettings) -> None:
    writer = KafkaFlowStore(settings)
    await writer.start()
    try:
        first = writer.deploy(FLOW.format(message="one"))
        unchanged = writer.deploy(FLOW.format(message="one"))
        second = writer.deploy(FLOW.format(message="two"))
    finally:
        await writer.stop()
    assert (first.revision, unchanged.revision, second.revision) == (1, 1, 2)

    reader = KafkaFlowStore(settings)
    await reader.start()
    try:
        latest, number = reader.get("it.flows", "stored")
        old, _ = reader.get("it.flows", "stored", 1)
    finally:
        await reader.stop()
    assert number == 2
    assert latest.source is not None and "two" in latest.source
    assert old.source is not None and "one" in old.source


async def test_a_missing_flows_topic_is_a_clear_error(kafka_bootstrap: str) -> None:
    from kestra_stream.errors import BackendError

    store = KafkaFlowStore(KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix="it-absent-",
                                         connect_timeout_seconds=3))
    with pytest.raises(BackendError, match="topics apply"):
        await store.start()
