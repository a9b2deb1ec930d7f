"""The executor's table changelogs are created so that the broker compacts them within minutes.

A restarted executor replays its changelogs; compacted only when a segment closes (7 days by
default), they held every state and eviction tombstone ever written. How long a restart then takes
is measured by benchmarks/bench_executor_memory.py, never asserted here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from test_kafka_executor import Harness, succeed

from kestra_stream.kafka import delete_topics, describe_topics
from kestra_stream.kafka._changelogs import CHANGELOG_TOPIC_CONFIG, TABLES, changelog_topic
from kestra_stream.models.state import StateType


@pytest.fixture
async def harness(kafka_bootstrap: str) -> AsyncIterator[Harness]:
    async with Harness(kafka_bootstrap, succeed) as h:
        yield h
    delete_topics(h.settings)


def topic_configs(harness: Harness, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AdminClient(harness.settings.client_config())
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name) for name in names])
    return {resource.name: {key: entry.value for key, entry in future.result(timeout=30).items()}
            for resource, future in futures.items()}


@pytest.mark.kafka
async def test_every_table_changelog_rolls_and_compacts_its_segments_within_minutes(harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    try:
        final = await harness.finished(harness.create("three_logs"))
    finally:
        await executor.stop()
    assert final.execution.state.current is StateType.SUCCESS
    names = [changelog_topic(harness.settings, table) for table in TABLES]
    configs = topic_configs(harness, names)
    assert sorted(configs) == sorted(names)
    for name in names:
        assert "compact" in configs[name]["cleanup.policy"], name
        assert {key: configs[name][key] for key in CHANGELOG_TOPIC_CONFIG} == CHANGELOG_TOPIC_CONFIG, name


@pytest.mark.kafka
async def test_topics_apply_declares_the_changelogs_exactly_as_the_executor_creates_them(
        harness: Harness) -> None:
    executor = harness.executor()
    await executor.start()
    await executor.stop()
    listed = AdminClient(harness.settings.client_config()).list_topics(timeout=30).topics
    made_by_faust = {name for name in listed
                     if name.startswith(harness.settings.executor_app_id) and name.endswith("-changelog")}

    assert made_by_faust == {changelog_topic(harness.settings, table) for table in TABLES}
    statuses = {status.spec.name: status for status in describe_topics(harness.settings)
                if status.spec.name in made_by_faust}
    assert {name: status.drift for name, status in statuses.items()} == dict.fromkeys(statuses, ())
