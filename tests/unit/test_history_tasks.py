"""execution.PurgeExecutions refuses what it cannot do; the history's rules pick what a purge covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kestra_stream_plugin_core import PurgeExecutions
from pydantic import ValidationError

from kestra_stream.errors import TaskFailure
from kestra_stream.kafka import KafkaSettings, KafkaStack
from kestra_stream.models.log import LogEntry
from kestra_stream.models.task import LogLevel
from kestra_stream.search import CountQuery, LogPurge

NOW = datetime(2026, 1, 31, 12, tzinfo=UTC)


def test_keeping_the_logs_of_purged_executions_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="purgeLog: false` with `purgeExecution: true` is not implemented"):
        PurgeExecutions.model_validate({"id": "p", "type": "io.kestra.plugin.core.execution.PurgeExecutions",
                                        "endDate": "{{ now() }}", "purgeLog": False})


def _line(namespace: str, flow_id: str, level: LogLevel, at: datetime) -> LogEntry:
    return LogEntry(execution_id="e", namespace=namespace, flow_id=flow_id, level=level, message="m", timestamp=at)


def test_a_log_purge_takes_a_namespace_with_its_children_or_exactly_the_namespace_of_its_flow() -> None:
    below = _line("company.team.a", "f", LogLevel.INFO, NOW)
    assert LogPurge(namespace="company.team", end_date=NOW).covers(below)
    assert not LogPurge(namespace="company.te", end_date=NOW).covers(below)
    assert not LogPurge(namespace="company.team", flow_id="f", end_date=NOW).covers(below)
    assert LogPurge(namespace="company.team.a", flow_id="f", end_date=NOW).covers(below)


def test_a_log_purge_keeps_lines_outside_its_dates_and_levels() -> None:
    line = _line("n", "f", LogLevel.DEBUG, NOW)
    assert LogPurge(end_date=NOW, start_date=NOW).covers(line)
    assert not LogPurge(end_date=NOW - timedelta(microseconds=1)).covers(line)
    assert not LogPurge(end_date=NOW, start_date=NOW + timedelta(seconds=1)).covers(line)
    assert not LogPurge(end_date=NOW, levels=frozenset({LogLevel.INFO})).covers(line)


async def test_on_kafka_without_elasticsearch_the_history_tasks_fail_naming_the_setting(tmp_path: Path) -> None:
    stack = KafkaStack(KafkaSettings(bootstrap_servers="127.0.0.1:1"), home=tmp_path)
    with pytest.raises(TaskFailure, match="--elasticsearch-url"):
        await stack.services.count_executions(CountQuery(start_date=NOW, end_date=NOW, namespaces=("n",)))
    with pytest.raises(TaskFailure, match="KESTRA_STREAM_ELASTICSEARCH_URL"):
        await stack.services.purge_logs(LogPurge(end_date=NOW))


async def test_a_stack_that_does_not_follow_the_executions_fails_log_fetch_naming_the_setting(tmp_path: Path) -> None:
    stack = KafkaStack(KafkaSettings(bootstrap_servers="127.0.0.1:1"), home=tmp_path, follow_executions=False)
    with pytest.raises(TaskFailure, match=r"does not follow the executions and logs topics.*--elasticsearch-url"):
        await stack.services.execution_logs("E1")
