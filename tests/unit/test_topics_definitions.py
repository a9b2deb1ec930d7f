"""Topic definitions as data: the packaged file, its validation, rendering with settings, and the pure plan."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kestra_stream.cli.topics import format_changes, format_statuses
from kestra_stream.errors import BackendError
from kestra_stream.kafka import KafkaSettings
from kestra_stream.kafka._changelogs import CHANGELOG_TOPIC_CONFIG, TABLES
from kestra_stream.kafka._topics import (
    LOGICAL_TOPICS,
    ChangeKind,
    TopicSpec,
    TopicStatus,
    default_definitions_path,
    load_definitions,
    parse_definitions,
    plan,
    render,
    same_config_value,
)

REPO = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


def _packaged() -> dict[str, Any]:
    from ruamel.yaml import YAML

    data: dict[str, Any] = YAML(typ="safe").load(default_definitions_path().read_text())
    return data


def _with(logical: str, **config: Any) -> dict[str, Any]:
    """The packaged definitions with ``config`` merged into one topic (None removes a key)."""
    data = copy.deepcopy(_packaged())
    target = data["topics"][logical]["config"]
    for key, value in config.items():
        if value is None:
            target.pop(key.replace("_", "."), None)
        else:
            target[key.replace("_", ".")] = value
    return data


def _rendered(settings: KafkaSettings | None = None) -> dict[str, TopicSpec]:
    return {spec.logical: spec for spec in render(load_definitions(), settings or KafkaSettings())}


# --- the packaged file -------------------------------------------------------------------------------------------


def test_packaged_definitions_cover_every_logical_topic_of_the_settings() -> None:
    definitions = load_definitions()

    assert set(definitions.topics) == set(type(KafkaSettings().topics).model_fields)


def test_repository_topics_file_is_the_packaged_file() -> None:
    assert (REPO / "topics" / "topics.yaml").read_bytes() == default_definitions_path().read_bytes()


def test_executor_inbox_is_a_deleted_log_kept_at_least_a_week() -> None:
    spec = _rendered()["executor"]

    assert spec.config["cleanup.policy"] == "delete"
    assert int(spec.config["retention.ms"]) >= 7 * DAY_MS


@pytest.mark.parametrize("logical", ["executions", "flows", "triggers", "heartbeats"])
def test_state_topics_are_compacted(logical: str) -> None:
    assert _rendered()[logical].config["cleanup.policy"] == "compact"


@pytest.mark.parametrize("logical", ["jobs", "killed", "logs", "concurrency"])
def test_transient_topics_are_deleted_after_a_bounded_retention(logical: str) -> None:
    config = _rendered()[logical].config

    assert config["cleanup.policy"] == "delete"
    assert 0 < int(config["retention.ms"]) <= 30 * DAY_MS


@pytest.mark.parametrize("logical", ["executor", "executions", "logs"])
def test_topics_keyed_by_execution_id_take_the_settings_partition_count(logical: str) -> None:
    assert _rendered(KafkaSettings(partitions=7))[logical].partitions == 7


def test_rendered_names_carry_the_prefix_and_configured_names() -> None:
    specs = _rendered(KafkaSettings(topic_prefix="acme."))

    assert specs["executor"].name == "acme.executor"
    assert specs["jobs"].name == "acme.workertask"
    assert [spec.logical for spec in specs.values()] == [*LOGICAL_TOPICS, *(f"changelog.{t}" for t in TABLES)]


def test_the_executor_changelogs_follow_its_app_id_partitions_and_replicas() -> None:
    settings = KafkaSettings(topic_prefix="acme.", partitions=6, replication_factor=3)

    specs = _rendered(settings)

    assert [specs[f"changelog.{t}"].name for t in TABLES] == [f"acme-executor-{t}-changelog" for t in TABLES]
    for table in TABLES:
        spec = specs[f"changelog.{table}"]
        assert (spec.partitions, spec.replication_factor) == (6, 3)
        assert spec.config == {"cleanup.policy": "compact", **CHANGELOG_TOPIC_CONFIG}


@pytest.mark.parametrize(("replicas", "expected"), [(1, "1"), (2, "1"), (3, "2"), (5, "4")])
def test_default_min_insync_replicas_tolerates_losing_one_replica(replicas: int, expected: str) -> None:
    spec = _rendered(KafkaSettings(replication_factor=replicas))["executor"]

    assert spec.replication_factor == replicas
    assert spec.config["min.insync.replicas"] == expected


def test_config_values_render_as_kafka_strings() -> None:
    data = _with("logs", preallocate=True, **{"min.cleanable.dirty.ratio": None})
    data["topics"]["executions"]["config"]["min.cleanable.dirty.ratio"] = 0.25

    specs = {spec.logical: spec for spec in render(parse_definitions(data), KafkaSettings())}

    assert specs["logs"].config["preallocate"] == "true"
    assert specs["executions"].config["min.cleanable.dirty.ratio"] == "0.25"
    assert specs["logs"].config["retention.bytes"] == "-1"


def test_explicit_partitions_win_over_the_settings() -> None:
    data = copy.deepcopy(_packaged())
    data["topics"]["heartbeats"]["partitions"] = 1

    specs = {spec.logical: spec for spec in render(parse_definitions(data), KafkaSettings(partitions=8))}

    assert specs["heartbeats"].partitions == 1
    assert specs["executor"].partitions == 8


# --- validation ----------------------------------------------------------------------------------------------------


def test_a_missing_logical_topic_is_rejected_by_name() -> None:
    data = copy.deepcopy(_packaged())
    del data["topics"]["killed"]

    with pytest.raises(BackendError, match=r"no definition for topic.*killed"):
        parse_definitions(data)


def test_an_unknown_logical_topic_is_rejected_with_the_known_ones() -> None:
    data = copy.deepcopy(_packaged())
    data["topics"]["metrics"] = data["topics"]["logs"]

    with pytest.raises(BackendError, match=r"unknown logical topic.*metrics.*executor"):
        parse_definitions(data)


def test_a_misspelt_setting_is_rejected() -> None:
    with pytest.raises(BackendError, match=r"topics\.logs.*unknown topic setting.*retention\.msec"):
        parse_definitions(_with("logs", **{"retention.msec": 1000}))


def test_cleanup_policy_is_required() -> None:
    with pytest.raises(BackendError, match=r"needs cleanup.policy"):
        parse_definitions(_with("jobs", cleanup_policy=None))


def test_an_unknown_cleanup_policy_is_rejected() -> None:
    with pytest.raises(BackendError, match=r"cleanup.policy 'remove'"):
        parse_definitions(_with("jobs", cleanup_policy="remove"))


def test_compaction_settings_on_a_deleted_topic_are_rejected() -> None:
    with pytest.raises(BackendError, match=r"min\.compaction\.lag\.ms only act on compacted topics"):
        parse_definitions(_with("logs", **{"min.compaction.lag.ms": 0}))


def test_retention_on_a_compact_only_topic_is_rejected() -> None:
    with pytest.raises(BackendError, match=r"retention\.ms are ignored on a compact-only topic"):
        parse_definitions(_with("flows", **{"retention.ms": 1000}))


def test_compact_and_delete_together_accept_both_kinds_of_settings() -> None:
    definitions = parse_definitions(_with("flows", cleanup_policy="compact,delete", **{"retention.ms": 1000}))

    assert definitions.topics["flows"].config["retention.ms"] == 1000


def test_default_is_only_understood_for_min_insync_replicas() -> None:
    with pytest.raises(BackendError, match=r"retention.ms: 'default' is only understood"):
        parse_definitions(_with("logs", **{"retention.ms": "default"}))


def test_min_insync_replicas_above_an_explicit_replication_factor_is_rejected() -> None:
    data = _with("logs", **{"min.insync.replicas": 3})
    data["topics"]["logs"]["replication_factor"] = 2

    with pytest.raises(BackendError, match=r"min.insync.replicas 3 exceeds replication_factor 2"):
        parse_definitions(data)


def test_min_insync_replicas_above_the_settings_replication_factor_fails_at_render() -> None:
    definitions = parse_definitions(_with("logs", **{"min.insync.replicas": 2}))

    with pytest.raises(BackendError, match=r"topic logs: min.insync.replicas 2 exceeds the replication factor 1"):
        render(definitions, KafkaSettings(replication_factor=1))


def test_zero_partitions_are_rejected() -> None:
    data = copy.deepcopy(_packaged())
    data["topics"]["logs"]["partitions"] = 0

    with pytest.raises(BackendError, match=r"topics\.logs\.partitions"):
        parse_definitions(data)


def test_an_unreadable_or_invalid_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "topics.yaml"
    broken.write_text("version: 1\ntopics: [\n")

    with pytest.raises(BackendError, match=f"{broken}.*not valid YAML"):
        load_definitions(broken)
    with pytest.raises(BackendError, match=r"cannot read topic definitions"):
        load_definitions(tmp_path / "absent.yaml")


# --- comparing and planning ----------------------------------------------------------------------------------------


def _spec(partitions: int = 4, **config: str) -> TopicSpec:
    return TopicSpec("logs", "p.logs", partitions, 1, {"cleanup.policy": "delete", "retention.ms": "1000", **config})


def _in_sync(spec: TopicSpec, **actual: str) -> TopicStatus:
    return TopicStatus(spec, True, spec.partitions, spec.replication_factor, {**spec.config, **actual})


@pytest.mark.parametrize(("name", "desired", "actual", "same"), [
    ("retention.ms", "1000", "1000", True),
    ("min.cleanable.dirty.ratio", "0.1", "0.10", True),
    ("cleanup.policy", "compact,delete", "delete,compact", True),
    ("preallocate", "true", "TRUE", True),
    ("retention.ms", "1000", "2000", False),
    ("retention.ms", "1000", None, False),
    ("cleanup.policy", "compact", "compact,delete", False),
])
def test_config_values_compare_by_meaning(name: str, desired: str, actual: str | None, same: bool) -> None:
    assert same_config_value(name, desired, actual) is same


def test_a_missing_topic_is_planned_for_creation_with_all_its_settings() -> None:
    spec = _spec()

    (change,) = plan([TopicStatus(spec, exists=False)])

    assert change.kind is ChangeKind.CREATED
    assert change.set_config == spec.config
    assert change.details == ("4 partitions, replication factor 1", "cleanup.policy=delete", "retention.ms=1000")


def test_a_topic_in_sync_is_left_unchanged_without_details() -> None:
    (change,) = plan([_in_sync(_spec())])

    assert change.kind is ChangeKind.UNCHANGED
    assert change.details == ()
    assert change.set_config == {}
    assert change.new_partitions is None


def test_only_the_settings_that_differ_are_set() -> None:
    (change,) = plan([_in_sync(_spec(), **{"retention.ms": "5000"})])

    assert change.kind is ChangeKind.UPDATED
    assert change.set_config == {"retention.ms": "1000"}
    assert change.details == ("retention.ms 5000 -> 1000",)


def test_fewer_partitions_than_defined_are_increased() -> None:
    spec = _spec(partitions=6)
    status = TopicStatus(spec, True, 4, 1, dict(spec.config))

    (change,) = plan([status])

    assert change.kind is ChangeKind.UPDATED
    assert change.new_partitions == 6
    assert change.details == ("partitions 4 -> 6",)


def test_more_partitions_than_defined_fail_the_whole_plan() -> None:
    shrinking = TopicStatus(_spec(partitions=2), True, 4, 1, dict(_spec().config))

    with pytest.raises(BackendError, match=r"cannot decrease partitions.*p.logs has 4 > 2"):
        plan([TopicStatus(_spec(), exists=False), shrinking])


def test_a_different_replication_factor_is_reported_not_changed() -> None:
    spec = _spec()
    status = TopicStatus(spec, True, spec.partitions, 3, dict(spec.config))

    (change,) = plan([status])

    assert change.kind is ChangeKind.UNCHANGED
    assert "replication factor stays 3" in change.details[0]
    assert status.drift == ("replication factor 3 -> 1",)


def test_status_drift_lists_every_difference() -> None:
    spec = _spec(partitions=6)
    status = TopicStatus(spec, True, 4, 1, {"cleanup.policy": "compact", "retention.ms": "1000"})

    assert status.drift == ("partitions 4 -> 6", "cleanup.policy compact -> delete")
    assert not status.in_sync
    assert TopicStatus(spec, exists=False).drift == ("missing",)
    assert _in_sync(spec).in_sync


# --- CLI output ----------------------------------------------------------------------------------------------------


def test_status_table_shows_actual_against_desired_and_the_drifting_settings() -> None:
    spec = _spec(partitions=6)
    drifting = TopicStatus(spec, True, 4, 1, {"cleanup.policy": "delete", "retention.ms": "5000"})
    missing = TopicStatus(TopicSpec("flows", "p.flow", 6, 1, {"cleanup.policy": "compact"}), exists=False)

    lines = format_statuses([drifting, missing, _in_sync(_spec())])

    assert lines[0].split() == ["LOGICAL", "TOPIC", "PARTITIONS", "REPLICAS", "STATUS"]
    assert lines[1].split() == ["logs", "p.logs", "4", "->", "6", "1", "drift"]
    assert lines[2].strip() == "retention.ms: 5000 -> 1000"
    assert lines[3].split() == ["flows", "p.flow", "-", "->", "6", "-", "->", "1", "missing"]
    assert lines[4].split() == ["logs", "p.logs", "4", "1", "in", "sync"]


def test_change_lines_name_the_topic_then_indent_the_details() -> None:
    changes = plan([_in_sync(_spec(), **{"retention.ms": "5000"}), _in_sync(_spec())])

    assert format_changes(changes, dry_run=True) == [
        "p.logs  would be updated", "    retention.ms 5000 -> 1000", "p.logs  unchanged"]
