"""bench_webhook drives real webhook calls over HTTP and sees every execution it started end."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench_webhook import load, rows_of, served

from kestra_stream.models.state import StateType


@pytest.mark.parametrize("backend", ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def test_a_tiny_load_is_accepted_and_every_execution_ends_in_success(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    bootstrap = request.getfixturevalue("kafka_bootstrap") if backend == "kafka" else "localhost:9092"
    args = argparse.Namespace(backend=backend, bootstrap_servers=bootstrap, partitions=2, worker_concurrency=4,
                              keep_topics=False)
    async with served(args, tmp_path) as target:
        run = await load(target, clients=3, requests=12, warmup=1)
    assert run.refused == {}
    assert run.accepted == 12 and len(set(run.execution_ids)) == 12
    assert run.final_states == {StateType.SUCCESS.value: 12}
    rows = {row.name: row for row in rows_of(run)}
    assert rows["webhook calls accepted"].value > 0
    assert rows["webhook call latency p50"].value <= rows["webhook call latency p99"].value
