"""`topics apply|list` against the real broker; every test works under its own topic prefix."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from ruamel.yaml import YAML

from kestra_stream.cli.topics import topics as topics_cli
from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaSettings, TopicNames
from kestra_stream.kafka._changelogs import CHANGELOG_TOPIC_CONFIG, TABLES, changelog_topic
from kestra_stream.kafka._topics import (
    ChangeKind,
    TopicChange,
    TopicDefinitions,
    apply,
    default_definitions_path,
    describe,
    load_definitions,
    parse_definitions,
)

pytestmark = pytest.mark.kafka

# Every logical topic of the backend, one each, and the executor's table changelogs.
TOPIC_COUNT = len(TopicNames.model_fields) + len(TABLES)


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def settings(kafka_bootstrap: str, admin: AdminClient) -> Iterator[KafkaSettings]:
    """Settings with a fresh prefix; the topics made under it are deleted afterwards."""
    prefix = f"test-topics-{uuid.uuid4().hex[:12]}."
    yield KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=2)
    ours = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if ours:
        for future in admin.delete_topics(ours, operation_timeout=10).values():
            future.result(timeout=60)


def _actual_config(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return {name: entry.value for name, entry in entries.items()}


def _eventually(check: Any, what: str) -> None:
    """The broker applies metadata and config changes asynchronously: poll what a raw client changed."""
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"the broker never showed {what}"
        time.sleep(0.05)


def _partitions(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def _every_topic(settings: KafkaSettings) -> list[str]:
    return [*(settings.topic(logical) for logical in type(settings.topics).model_fields),
            *(changelog_topic(settings, table) for table in TABLES)]


def _definitions_with(logical: str, **config: Any) -> TopicDefinitions:
    data: dict[str, Any] = copy.deepcopy(YAML(typ="safe").load(default_definitions_path().read_text()))
    data["topics"][logical]["config"].update(config)
    return parse_definitions(data)


def test_apply_creates_every_topic_with_its_partitions_and_settings(
        settings: KafkaSettings, admin: AdminClient) -> None:
    changes = apply(settings)

    assert [change.kind for change in changes] == [ChangeKind.CREATED] * TOPIC_COUNT
    existing = admin.list_topics(timeout=10).topics
    for name in _every_topic(settings):
        assert name in existing
        assert len(existing[name].partitions) == 2
    executor = _actual_config(admin, settings.topic("executor"))
    assert executor["cleanup.policy"] == "delete"
    assert executor["retention.ms"] == "2592000000"
    executions = _actual_config(admin, settings.topic("executions"))
    assert executions["cleanup.policy"] == "compact"
    assert executions["min.compaction.lag.ms"] == "60000"
    assert _actual_config(admin, settings.topic("heartbeats"))["segment.ms"] == "600000"
    changelog = _actual_config(admin, changelog_topic(settings, "executions"))
    assert changelog["cleanup.policy"] == "compact"
    assert {key: changelog[key] for key in CHANGELOG_TOPIC_CONFIG} == CHANGELOG_TOPIC_CONFIG


def test_a_changelog_an_older_executor_created_gets_the_declared_settings_once(
        settings: KafkaSettings, admin: AdminClient) -> None:
    # What faust made before the changelogs had settings of their own: compacted, broker defaults otherwise.
    name = changelog_topic(settings, "executions")
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1,
                                  config={"cleanup.policy": "compact"})])[name].result(timeout=10)
    _eventually(lambda: name in admin.list_topics(timeout=10).topics, f"topic {name}")
    defaults = _actual_config(admin, name)

    first = {change.topic: change for change in apply(settings)}
    second = apply(settings)

    assert first[name].kind is ChangeKind.UPDATED
    assert first[name].logical == "changelog.executions"
    assert sorted(first[name].details) == sorted(f"{key} {defaults[key]} -> {value}"
                                                 for key, value in CHANGELOG_TOPIC_CONFIG.items())
    assert {key: _actual_config(admin, name)[key] for key in CHANGELOG_TOPIC_CONFIG} == CHANGELOG_TOPIC_CONFIG
    assert {change.kind for change in second} == {ChangeKind.UNCHANGED}


def test_cli_apply_lists_what_it_changed_on_an_existing_changelog(
        settings: KafkaSettings, admin: AdminClient) -> None:
    apply(settings)
    name = changelog_topic(settings, "timers")
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("segment.ms", "604800000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=10)
    _eventually(lambda: _actual_config(admin, name)["segment.ms"] == "604800000", "segment.ms=604800000")
    args = ["apply", "--bootstrap-servers", settings.bootstrap_servers, "--prefix", settings.topic_prefix,
            "--partitions", "2"]

    result = CliRunner().invoke(topics_cli, args)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[lines.index(next(line for line in lines if line.startswith(name))) + 1] == \
        "    segment.ms 604800000 -> 60000"
    assert next(line for line in lines if line.startswith(name)).split()[-1] == "updated"
    assert f"0 created, 1 updated, {TOPIC_COUNT - 1} unchanged" in result.output


def test_applying_twice_changes_nothing_the_second_time(settings: KafkaSettings) -> None:
    apply(settings)

    again = apply(settings)

    assert {change.kind for change in again} == {ChangeKind.UNCHANGED}
    assert all(change.details == () for change in again)
    assert all(status.in_sync for status in describe(settings))


def test_a_changed_retention_is_altered_and_nothing_else(settings: KafkaSettings, admin: AdminClient) -> None:
    apply(settings)
    before = _actual_config(admin, settings.topic("logs"))

    changes = apply(settings, _definitions_with("logs", **{"retention.ms": 3_600_000}))

    by_logical = {change.logical: change for change in changes}
    assert by_logical["logs"].kind is ChangeKind.UPDATED
    assert by_logical["logs"].details == ("retention.ms 604800000 -> 3600000",)
    assert {c.kind for name, c in by_logical.items() if name != "logs"} == {ChangeKind.UNCHANGED}
    after = _actual_config(admin, settings.topic("logs"))
    assert after["retention.ms"] == "3600000"
    assert {k: v for k, v in after.items() if k != "retention.ms"} == \
        {k: v for k, v in before.items() if k != "retention.ms"}


def test_more_partitions_are_added(settings: KafkaSettings, admin: AdminClient) -> None:
    apply(settings)

    changes = apply(settings.model_copy(update={"partitions": 5}))

    assert {change.new_partitions for change in changes} == {5}
    assert _partitions(admin, settings.topic("executor")) == 5
    assert _partitions(admin, settings.topic("logs")) == 5


def test_fewer_partitions_fail_clearly_and_change_nothing(settings: KafkaSettings, admin: AdminClient) -> None:
    apply(settings.model_copy(update={"partitions": 3}))
    lower_retention = _definitions_with("logs", **{"retention.ms": 3_600_000})

    with pytest.raises(BackendError, match=r"cannot decrease partitions \(.*executor has 3 > 2"):
        apply(settings, lower_retention)

    assert _partitions(admin, settings.topic("executor")) == 3
    assert _actual_config(admin, settings.topic("logs"))["retention.ms"] == "604800000"


def test_an_existing_topic_made_elsewhere_gets_the_defined_settings(
        settings: KafkaSettings, admin: AdminClient) -> None:
    name = settings.topic("flows")
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=10)
    _eventually(lambda: name in admin.list_topics(timeout=10).topics, f"topic {name}")

    changes = {change.logical: change for change in apply(settings)}

    assert changes["flows"].kind is ChangeKind.UPDATED
    assert "partitions 1 -> 2" in changes["flows"].details
    assert "cleanup.policy delete -> compact" in changes["flows"].details
    assert _actual_config(admin, name)["cleanup.policy"] == "compact"
    assert all(status.in_sync for status in describe(settings))


def test_dry_run_reports_the_plan_and_writes_nothing(settings: KafkaSettings, admin: AdminClient) -> None:
    changes = apply(settings, dry_run=True)

    assert {change.kind for change in changes} == {ChangeKind.CREATED}
    assert not [name for name in admin.list_topics(timeout=10).topics if name.startswith(settings.topic_prefix)]


def test_list_shows_drift_made_behind_its_back(settings: KafkaSettings, admin: AdminClient) -> None:
    apply(settings)
    name = settings.topic("jobs")
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=10)
    _eventually(lambda: _actual_config(admin, name)["retention.ms"] == "1000", "retention.ms=1000")

    statuses = {status.spec.logical: status for status in describe(settings)}
    result = CliRunner().invoke(topics_cli, ["list", "--check", "--bootstrap-servers", settings.bootstrap_servers,
                                             "--prefix", settings.topic_prefix, "--partitions", "2"])

    assert statuses["jobs"].drift == ("retention.ms 1000 -> 604800000",)
    assert [logical for logical, status in statuses.items() if not status.in_sync] == ["jobs"]
    assert result.exit_code == 1, result.output
    jobs_row = next(line for line in result.output.splitlines() if line.startswith("jobs "))
    assert jobs_row.split()[-1] == "drift"
    assert "    retention.ms: 1000 -> 604800000" in result.output.splitlines()
    assert f"1 of {TOPIC_COUNT} topics differ" in result.output


def test_cli_apply_reports_created_then_unchanged(settings: KafkaSettings) -> None:
    args = ["apply", "--bootstrap-servers", settings.bootstrap_servers, "--prefix", settings.topic_prefix,
            "--partitions", "2"]
    runner = CliRunner()

    first = runner.invoke(topics_cli, args)
    second = runner.invoke(topics_cli, args)

    assert first.exit_code == 0, first.output
    assert f"{settings.topic('executor')}" in first.output
    assert f"{TOPIC_COUNT} created, 0 updated, 0 unchanged" in first.output
    assert second.exit_code == 0, second.output
    assert f"0 created, 0 updated, {TOPIC_COUNT} unchanged" in second.output


def test_cli_reads_the_settings_file_and_custom_definitions(settings: KafkaSettings, tmp_path: Any,
                                                            admin: AdminClient) -> None:
    config = tmp_path / "kestra-stream.yaml"
    config.write_text(f"kafka:\n  bootstrap_servers: {settings.bootstrap_servers}\n"
                      f"  topic_prefix: {settings.topic_prefix}\n  partitions: 3\n")
    definitions = tmp_path / "topics.yaml"
    definitions.write_text(default_definitions_path().read_text().replace("\n      retention.ms: 86400000 ",
                                                                          "\n      retention.ms: 7200000 "))
    assert load_definitions(definitions).topics["killed"].config["retention.ms"] == 7_200_000

    result = CliRunner().invoke(topics_cli, ["apply", "--config", str(config), "--definitions", str(definitions)])

    assert result.exit_code == 0, result.output
    assert _partitions(admin, settings.topic("executor")) == 3
    assert _actual_config(admin, settings.topic("killed"))["retention.ms"] == "7200000"


def test_an_unreachable_broker_fails_with_a_clear_message() -> None:
    unreachable = KafkaSettings(bootstrap_servers="localhost:1", connect_timeout_seconds=1.5)

    with pytest.raises(BackendError, match=r"Kafka is not reachable at localhost:1 \(no answer within 1.5 s"):
        apply(unreachable)
    result = CliRunner().invoke(topics_cli, ["list", "--bootstrap-servers", "localhost:1"],
                                env={"KESTRA_STREAM_KAFKA_CONNECT_TIMEOUT_SECONDS": "1"})

    assert result.exit_code == 1
    assert "Kafka is not reachable at localhost:1" in result.output
    assert "kestra-stream services up kafka" in result.output


def test_concurrent_applies_create_each_topic_once_and_end_in_sync(settings: KafkaSettings) -> None:
    results: list[list[TopicChange]] = []
    threads = [threading.Thread(target=lambda: results.append(apply(settings))) for _ in range(3)]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 3
    created = Counter(change.topic for changes in results for change in changes if change.kind is ChangeKind.CREATED)
    assert created == dict.fromkeys(_every_topic(settings), 1)
    assert all(status.in_sync for status in describe(settings))
