"""The realtime-trigger benchmark measures what it claims, at a tiny size, on the real broker."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from bench_kafka import delete_run_topics
from bench_realtime import measure, rows_of

from kestra_stream.kafka import KafkaSettings


@pytest.mark.kafka
async def test_every_measured_record_gets_one_execution_and_two_latencies(kafka_bootstrap: str,
                                                                          tmp_path: Path) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=2,
                             topic_prefix=f"bench-rt-test-{uuid.uuid4().hex[:8]}.")
    try:
        samples = await measure(settings, tmp_path, messages=5, rate=50.0, warmup=2, drain_seconds=60.0)
    finally:
        delete_run_topics(settings)
    assert sorted(samples.created_ms) == [f"m-{i}" for i in range(5)]
    assert sorted(samples.visible_ms) == sorted(samples.created_ms)
    # Creation is stamped before the execution can be read back; both come after the record.
    assert all(0 <= samples.created_ms[k] <= samples.visible_ms[k] + 1 for k in samples.created_ms)
    created, visible = rows_of(samples)
    assert created.extra["p50"] <= created.extra["p99"] <= created.extra["max"]
    assert len(visible.extra["samples_ms"]) == 5
