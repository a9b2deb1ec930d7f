"""The executor's static group membership (``--instance-id``): a crash and a graceful stop.

The group's session timeout is raised to two minutes here, longer than anything the tests wait for:
a member that neither came back under its instance id nor left would hold its partitions for the
whole test, so what the tests see can only come from the static rejoin or the leave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from kestra_stream.kafka import KafkaSettings
from kestra_stream.models.state import StateType
from tests.e2e.kafka_crash_driver import NAMESPACE, WHOAMI_FLOW, Component, Processes, client, fresh_settings, wait_all

pytestmark = pytest.mark.kafka

LONG_SESSION = {"KESTRA_STREAM_KAFKA_EXECUTOR_SESSION_TIMEOUT_SECONDS": "90"}


def assignments(executor: Component) -> list[dict[str, Any]]:
    return [e for e in executor.events() if e.get("event") == "executor_partitions_assigned"]


def group_members(settings: KafkaSettings) -> list[str]:
    """The group instance ids (or member ids) of the executor group's members, as the broker has them now."""
    admin = AdminClient(settings.client_config())
    group = admin.describe_consumer_groups([settings.executor_app_id])[settings.executor_app_id].result(timeout=30)
    return [m.group_instance_id or m.member_id for m in group.members]


async def test_an_executor_killed_and_restarted_under_its_instance_id_takes_its_partitions_back_without_a_rebalance(
        kafka_bootstrap: str, tmp_path: Path, processes: Processes) -> None:
    settings = fresh_settings(kafka_bootstrap)
    static = ["--instance-id", "executor-a"]
    async with client(settings, tmp_path / "client", [WHOAMI_FLOW]) as stack:
        first = processes.start(Component("executor", settings, processes.logs / "executor-1.log", options=static,
                                          env=LONG_SESSION))
        first.wait_for("kafka_executor_started", within=90)
        before = assignments(first)[-1]
        first.sigkill()

        again = processes.start(Component("executor", settings, processes.logs / "executor-2.log", options=static,
                                          env=LONG_SESSION))
        worker = processes.start(Component("worker", settings, processes.logs / "worker.log", home=tmp_path / "w"))
        # A new member would wait out the dead one's session (longer than this) and then start a new generation.
        again.wait_for("kafka_executor_started", within=60)
        after = assignments(again)
        assert [(a["generation"], a["partitions"]) for a in after] == [(before["generation"], [0, 1])]

        execution_id = await stack.create_execution(NAMESPACE, "whoami", {})
        ended = await wait_all(stack, [execution_id], within=60, describe=processes.describe)
        assert ended[execution_id].state.current is StateType.SUCCESS
        assert worker.process.poll() is None


async def test_a_static_executor_stopped_gracefully_leaves_its_group_at_once(
        kafka_bootstrap: str, tmp_path: Path, processes: Processes) -> None:
    settings = fresh_settings(kafka_bootstrap)
    async with client(settings, tmp_path / "client", []):
        executor = processes.start(Component("executor", settings, processes.logs / "executor.log",
                                             options=["--instance-id", "executor-b"], env=LONG_SESSION))
        executor.wait_for("kafka_executor_started", within=90)
        assert group_members(settings) == ["executor-b"]
        assert executor.sigterm() == 0
        # Left, not waiting out its session: other executors (or the next start) get its partitions now.
        assert group_members(settings) == []
