"""Topic definitions as data, rendered with ``KafkaSettings``, applied idempotently through the AdminClient.

The definitions ship in the package (``kestra_stream/kafka/topics.yaml``; ``topics/topics.yaml`` at the
repository root links to it). ``render`` turns them into concrete ``TopicSpec`` values (prefixed names,
partition and replica counts), ``describe`` reads what the broker has, ``plan`` compares the two without
I/O, and ``apply`` carries the plan out: it creates missing topics, sets configs that differ and adds
partitions. It never removes partitions or topics. The executor's table changelogs (``_changelogs``)
are rendered after the topics of the definitions and handled the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import structlog
from confluent_kafka import KafkaError, KafkaException

# confluent-kafka re-exports these without `as` in its typed package, which mypy --strict reads as private.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kestra_stream.errors import BackendError
from kestra_stream.kafka._changelogs import CHANGELOG_DECLARED_CONFIG, TABLES, changelog_topic
from kestra_stream.kafka._settings import KafkaSettings, TopicNames

log = structlog.get_logger(__name__)

DEFAULT: Literal["default"] = "default"
LOGICAL_TOPICS: tuple[str, ...] = tuple(TopicNames.model_fields)
CHANGELOG_LOGICAL_PREFIX = "changelog."  # logical name of a table's changelog: changelog.<table>

# Topic-level settings of Kafka 3.x; a name outside this set is a typo the broker would reject late.
KNOWN_TOPIC_CONFIGS = frozenset({
    "cleanup.policy", "compression.type", "compression.gzip.level", "compression.lz4.level",
    "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.downconversion.enable", "message.format.version", "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms", "message.timestamp.type",
    "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
    "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
})
_COMPACTION_ONLY = frozenset({"min.compaction.lag.ms", "max.compaction.lag.ms", "min.cleanable.dirty.ratio",
                              "delete.retention.ms"})
_DELETION_ONLY = frozenset({"retention.ms", "retention.bytes"})
_POLICIES = ("delete", "compact")

ConfigValue = bool | int | float | str


class TopicDefinition(BaseModel):
    """One logical topic as written in topics.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1)
    key: str = Field(min_length=1)  # what records are keyed by; documentation for readers of the file
    partitions: PositiveInt | Literal["default"] = DEFAULT
    replication_factor: PositiveInt | Literal["default"] = DEFAULT
    config: dict[str, ConfigValue]

    @model_validator(mode="after")
    def _check_config(self) -> TopicDefinition:
        unknown = sorted(set(self.config) - KNOWN_TOPIC_CONFIGS)
        if unknown:
            raise ValueError(f"unknown topic setting(s) {', '.join(unknown)}; use Kafka topic-level names "
                             "such as retention.ms, cleanup.policy, min.insync.replicas")
        policy = self.config.get("cleanup.policy")
        if not isinstance(policy, str):
            raise ValueError("config needs cleanup.policy: delete, compact or 'compact,delete'")
        policies = cleanup_policies(policy)
        if not policies or not policies <= set(_POLICIES):
            raise ValueError(f"cleanup.policy {policy!r} is not one of delete, compact, 'compact,delete'")
        if "compact" not in policies and (misplaced := sorted(_COMPACTION_ONLY & set(self.config))):
            raise ValueError(f"{', '.join(misplaced)} only act on compacted topics; "
                             "remove them or add compact to cleanup.policy")
        if "delete" not in policies and (misplaced := sorted(_DELETION_ONLY & set(self.config))):
            raise ValueError(f"{', '.join(misplaced)} are ignored on a compact-only topic; "
                             "remove them or add delete to cleanup.policy")
        for name, value in self.config.items():
            if value == DEFAULT and name != "min.insync.replicas":
                raise ValueError(f"{name}: 'default' is only understood for min.insync.replicas")
        isr = self.config.get("min.insync.replicas")
        if isr is not None and isr != DEFAULT and (isinstance(isr, bool) or not isinstance(isr, int) or isr < 1):
            raise ValueError(f"min.insync.replicas must be a positive integer or default, not {isr!r}")
        if isinstance(isr, int) and isinstance(self.replication_factor, int) and isr > self.replication_factor:
            raise ValueError(f"min.insync.replicas {isr} exceeds replication_factor {self.replication_factor}: "
                             "producers with acks=all could never write")
        return self


class TopicDefinitions(BaseModel):
    """The whole topics.yaml: one definition for every logical topic of ``TopicNames``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1]
    topics: dict[str, TopicDefinition]

    @model_validator(mode="after")
    def _check_names(self) -> TopicDefinitions:
        missing = [name for name in LOGICAL_TOPICS if name not in self.topics]
        extra = sorted(set(self.topics) - set(LOGICAL_TOPICS))
        if missing:
            raise ValueError(f"no definition for topic(s) {', '.join(missing)}; every logical topic "
                             f"({', '.join(LOGICAL_TOPICS)}) needs one")
        if extra:
            raise ValueError(f"unknown logical topic(s) {', '.join(extra)}; the known ones are "
                             f"{', '.join(LOGICAL_TOPICS)}")
        return self


def cleanup_policies(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def default_definitions_path() -> Path:
    return Path(str(resources.files("kestra_stream.kafka").joinpath("topics.yaml")))


def load_definitions(path: Path | None = None) -> TopicDefinitions:
    """The definitions in ``path``, or the ones shipped with the package."""
    source = path or default_definitions_path()
    try:
        data = YAML(typ="safe").load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BackendError(f"cannot read topic definitions {source}: {exc}") from exc
    except YAMLError as exc:
        raise BackendError(f"topic definitions {source} are not valid YAML: {exc}") from exc
    return parse_definitions(data, source=str(source))


def parse_definitions(data: Any, *, source: str = "<topics>") -> TopicDefinitions:
    try:
        return TopicDefinitions.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                             for err in exc.errors())
        raise BackendError(f"invalid topic definitions in {source}: {problems}") from exc


@dataclass(frozen=True)
class TopicSpec:
    """A topic as it should exist on the broker."""

    logical: str
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


def render(definitions: TopicDefinitions, settings: KafkaSettings) -> list[TopicSpec]:
    """Concrete topics for ``settings``: prefixed names, ``default`` counts resolved, values as strings."""
    specs: list[TopicSpec] = []
    for logical in LOGICAL_TOPICS:
        definition = definitions.topics[logical]
        partitions = _resolve(definition.partitions, settings.partitions)
        replicas = _resolve(definition.replication_factor, settings.replication_factor)
        config: dict[str, str] = {}
        for name, value in definition.config.items():
            if name == "min.insync.replicas" and value == DEFAULT:
                # One replica may be lost while acks=all writes still succeed; 1 on a single broker.
                value = max(1, replicas - 1)
            config[name] = config_string(value)
        isr = int(config.get("min.insync.replicas", "1"))
        if isr > replicas:
            raise BackendError(f"topic {logical}: min.insync.replicas {isr} exceeds the replication factor "
                               f"{replicas}; lower it in the topic definitions or raise replication_factor")
        specs.append(TopicSpec(logical, settings.topic(logical), partitions, replicas, config))
    return [*specs, *changelog_specs(settings)]


def changelog_specs(settings: KafkaSettings) -> list[TopicSpec]:
    """The executor's table changelogs, as faust creates them: one partition per executor partition.

    They are not in topics.yaml: the executor hands the same settings to faust, which creates a
    changelog on first start, and both must agree. Here they are created ahead (a deployment whose
    executor may not create topics) and, above all, changelogs made before their settings changed
    are altered, which faust never does.
    """
    return [TopicSpec(f"{CHANGELOG_LOGICAL_PREFIX}{table}", changelog_topic(settings, table), settings.partitions,
                      settings.replication_factor, dict(CHANGELOG_DECLARED_CONFIG)) for table in TABLES]


def _resolve(value: int | Literal["default"], default: int) -> int:
    return default if value == DEFAULT else value


def config_string(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def same_config_value(name: str, desired: str, actual: str | None) -> bool:
    """Whether the broker's ``actual`` value means ``desired`` (it may spell numbers and lists differently)."""
    if actual is None:
        return False
    if name == "cleanup.policy":
        return cleanup_policies(desired) == cleanup_policies(actual)
    if desired == actual:
        return True
    try:
        return float(desired) == float(actual)
    except ValueError:
        return desired.lower() == actual.lower()


@dataclass(frozen=True)
class TopicStatus:
    """A desired topic next to what the broker has (``exists`` False: nothing there)."""

    spec: TopicSpec
    exists: bool
    partitions: int | None = None
    replication_factor: int | None = None
    config: Mapping[str, str | None] = field(default_factory=dict)  # actual values of the spec's keys

    @property
    def config_drift(self) -> dict[str, tuple[str | None, str]]:
        """Setting -> (actual, desired) for every setting that differs."""
        if not self.exists:
            return {}
        return {name: (self.config.get(name), desired) for name, desired in self.spec.config.items()
                if not same_config_value(name, desired, self.config.get(name))}

    @property
    def drift(self) -> tuple[str, ...]:
        """What differs from the definition, one readable line each; empty when in sync."""
        if not self.exists:
            return ("missing",)
        lines: list[str] = []
        if self.partitions != self.spec.partitions:
            lines.append(f"partitions {self.partitions} -> {self.spec.partitions}")
        if self.replication_factor != self.spec.replication_factor:
            lines.append(f"replication factor {self.replication_factor} -> {self.spec.replication_factor}")
        lines.extend(f"{name} {actual} -> {desired}" for name, (actual, desired) in self.config_drift.items())
        return tuple(lines)

    @property
    def in_sync(self) -> bool:
        return not self.drift


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class TopicChange:
    """What ``apply`` did (or, dry, would do) to one topic; ``details`` says what changed."""

    logical: str
    topic: str
    kind: ChangeKind
    details: tuple[str, ...] = ()
    set_config: Mapping[str, str] = field(default_factory=dict)
    new_partitions: int | None = None  # the new total when partitions are added


def plan(statuses: Sequence[TopicStatus]) -> list[TopicChange]:
    """The changes that bring every topic to its definition; no I/O.

    Raises ``BackendError`` when a topic has more partitions than defined: Kafka cannot remove
    partitions, and records keyed by execution id would move if it could.
    """
    shrinking = [s for s in statuses if s.exists and s.partitions is not None and s.partitions > s.spec.partitions]
    if shrinking:
        listed = ", ".join(f"{s.spec.name} has {s.partitions} > {s.spec.partitions}" for s in shrinking)
        raise BackendError(f"cannot decrease partitions ({listed}); Kafka never removes partitions. Set "
                           "partitions to at least the current count, or recreate the topics under a new prefix")
    changes: list[TopicChange] = []
    for status in statuses:
        spec = status.spec
        if not status.exists:
            details = (f"{spec.partitions} partitions, replication factor {spec.replication_factor}",
                       *(f"{name}={value}" for name, value in spec.config.items()))
            changes.append(TopicChange(spec.logical, spec.name, ChangeKind.CREATED, details,
                                       dict(spec.config), spec.partitions))
            continue
        details_list: list[str] = []
        new_partitions = None
        if status.partitions is not None and status.partitions < spec.partitions:
            new_partitions = spec.partitions
            details_list.append(f"partitions {status.partitions} -> {spec.partitions}")
        drift = status.config_drift
        details_list.extend(f"{name} {actual} -> {desired}" for name, (actual, desired) in drift.items())
        kind = ChangeKind.UPDATED if new_partitions is not None or drift else ChangeKind.UNCHANGED
        if status.replication_factor != spec.replication_factor:
            # Changing replicas needs a partition reassignment, which is an operator's decision.
            details_list.append(f"replication factor stays {status.replication_factor} (desired "
                                f"{spec.replication_factor}): reassign partitions with kafka-reassign-partitions.sh")
        changes.append(TopicChange(spec.logical, spec.name, kind, tuple(details_list),
                                   {name: desired for name, (_, desired) in drift.items()}, new_partitions))
    return changes


class _LibrdkafkaLog:
    """Routes librdkafka's own log lines (connection refused ...) to structlog instead of stderr."""

    def log(self, level: int, fmt: str, *args: object) -> None:
        log.debug("librdkafka", message=fmt % args if args else fmt, level=level)


def _on_client_error(error: KafkaError) -> None:
    log.debug("kafka admin client error", error=str(error))


class _Admin:
    """The AdminClient calls this module needs, each bounded by ``settings.connect_timeout_seconds``."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._timeout = settings.connect_timeout_seconds
        self._client = AdminClient(settings.client_config(
            logger=_LibrdkafkaLog(), error_cb=_on_client_error,
            **{"socket.connection.setup.timeout.ms": max(1000, int(self._timeout * 1000))}))

    def _unreachable(self, exc: BaseException) -> BackendError:
        return BackendError(
            f"Kafka is not reachable at {self._settings.bootstrap_servers} (no answer within "
            f"{self._timeout:g} s: {exc}); check bootstrap_servers (--bootstrap-servers or "
            "KESTRA_STREAM_KAFKA_BOOTSTRAP_SERVERS) and that the broker runs (`kestra-stream services up kafka`)")

    def topics(self) -> dict[str, tuple[int, int]]:
        """Existing topic -> (partitions, replication factor)."""
        try:
            metadata = self._client.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        found: dict[str, tuple[int, int]] = {}
        for name, topic in metadata.topics.items():
            if topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            replicas = min((len(p.replicas) for p in topic.partitions.values()), default=0)
            found[name] = (len(topic.partitions), replicas)
        return found

    def configs(self, names: Sequence[str]) -> dict[str, dict[str, str | None]]:
        if not names:
            return {}
        resources_ = [ConfigResource(ResourceType.TOPIC, name) for name in names]
        futures = self._client.describe_configs(resources_, request_timeout=self._timeout)
        return {resource.name: {key: entry.value for key, entry in self._wait(future, resource.name).items()}
                for resource, future in futures.items()}

    def create(self, specs: Sequence[TopicSpec]) -> list[str]:
        """Create the topics; the names that someone else created meanwhile come back, untouched."""
        if not specs:
            return []
        new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor,
                        config=dict(s.config)) for s in specs]
        futures = self._client.create_topics(new, operation_timeout=self._timeout, request_timeout=self._timeout)
        raced: list[str] = []
        for name, future in futures.items():
            try:
                self._wait(future, name)
            except BackendError as exc:
                cause = exc.__cause__
                if not (isinstance(cause, KafkaException) and cause.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS):
                    raise
                raced.append(name)
        return raced

    def set_configs(self, changes: Mapping[str, Mapping[str, str]]) -> None:
        resources_ = [ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in config.items()])
            for name, config in changes.items() if config]
        if not resources_:
            return
        futures = self._client.incremental_alter_configs(resources_, request_timeout=self._timeout)
        for resource, future in futures.items():
            self._wait(future, resource.name)

    def add_partitions(self, totals: Mapping[str, int]) -> None:
        if not totals:
            return
        futures = self._client.create_partitions([NewPartitions(name, total) for name, total in totals.items()],
                                                 operation_timeout=self._timeout, request_timeout=self._timeout)
        for name, future in futures.items():
            self._wait(future, name)

    def await_partitions(self, expected: Mapping[str, int]) -> None:
        """Return once the metadata shows every topic with its partitions, so producers can use them at once."""
        deadline = time.monotonic() + self._timeout
        while expected:
            topics = self.topics()
            if all(topics.get(name, (0, 0))[0] >= count for name, count in expected.items()):
                return
            if time.monotonic() > deadline:
                late = sorted(name for name, count in expected.items() if topics.get(name, (0, 0))[0] < count)
                raise BackendError(f"topics {', '.join(late)} did not appear in the broker's metadata within "
                                   f"{self._timeout:g} s; run `kestra-stream topics list` to see their state")
            time.sleep(0.05)

    def await_configs(self, expected: Mapping[str, Mapping[str, str]]) -> None:
        """Return once the broker describes every topic with ``expected``: it applies changes asynchronously."""
        deadline = time.monotonic() + self._timeout
        pending = {name: config for name, config in expected.items() if config}
        while pending:
            actual = self.configs(list(pending))
            pending = {name: config for name, config in pending.items()
                       if not all(same_config_value(key, value, actual.get(name, {}).get(key))
                                  for key, value in config.items())}
            if not pending:
                return
            if time.monotonic() > deadline:
                raise BackendError(f"the broker did not show the new settings of {', '.join(sorted(pending))} "
                                   f"within {self._timeout:g} s; run `kestra-stream topics list` to see them")
            time.sleep(0.05)

    def _wait(self, future: Future[Any], name: str) -> Any:
        try:
            return future.result(timeout=self._timeout)
        except TimeoutError as exc:
            raise self._unreachable(exc) from exc
        except KafkaException as exc:
            raise BackendError(f"Kafka refused the change to topic {name}: {exc.args[0].str()}") from exc


def _statuses(admin: _Admin, specs: Sequence[TopicSpec]) -> list[TopicStatus]:
    existing = admin.topics()
    configs = admin.configs([s.name for s in specs if s.name in existing])
    statuses: list[TopicStatus] = []
    for spec in specs:
        if spec.name not in existing:
            statuses.append(TopicStatus(spec, exists=False))
            continue
        partitions, replicas = existing[spec.name]
        actual = configs.get(spec.name, {})
        statuses.append(TopicStatus(spec, True, partitions, replicas,
                                    {name: actual.get(name) for name in spec.config}))
    return statuses


def describe(settings: KafkaSettings, definitions: TopicDefinitions | None = None) -> list[TopicStatus]:
    """Every defined topic next to what the broker has, in the order of ``TopicNames``, then the changelogs."""
    specs = render(definitions or load_definitions(), settings)
    return _statuses(_Admin(settings), specs)


def apply(settings: KafkaSettings, definitions: TopicDefinitions | None = None, *,
          dry_run: bool = False) -> list[TopicChange]:
    """Create missing topics, set configs that differ and add partitions; one change per topic.

    Idempotent: on a broker already in sync every change is UNCHANGED and nothing is written.
    With ``dry_run`` the broker is only read.
    """
    specs = render(definitions or load_definitions(), settings)
    admin = _Admin(settings)
    changes = plan(_statuses(admin, specs))
    if dry_run:
        return changes
    by_name = {spec.name: spec for spec in specs}
    raced = admin.create([by_name[c.topic] for c in changes if c.kind is ChangeKind.CREATED])
    if raced:
        # Another client created some topics between our read and our write (a concurrent apply, or a
        # broker auto-creating on first use): plan those again from what they really are.
        admin.await_partitions(dict.fromkeys(raced, 1))
        fresh = {change.topic: change for change in plan(_statuses(admin, [by_name[name] for name in raced]))}
        changes = [fresh.get(change.topic, change) for change in changes]
    updated = [c for c in changes if c.kind is ChangeKind.UPDATED]
    admin.set_configs({c.topic: c.set_config for c in updated})
    admin.add_partitions({c.topic: c.new_partitions for c in updated if c.new_partitions is not None})
    admin.await_partitions({c.topic: c.new_partitions for c in changes if c.new_partitions is not None})
    admin.await_configs({c.topic: c.set_config for c in changes if c.set_config})
    for change in changes:
        if change.kind is not ChangeKind.UNCHANGED:
            log.info("kafka topic " + change.kind.value, topic=change.topic, details=list(change.details))
    return changes


def create_changelogs(settings: KafkaSettings, existing: set[str]) -> list[str]:
    """Create the executor's changelogs missing from ``existing`` (topic names), as ``apply`` would; their names.

    For an executor started without ``topics apply`` (tests, embedding): faust declares no topic of
    the executor (declaring one fetches the metadata of every topic of the cluster).
    """
    missing = [spec for spec in changelog_specs(settings) if spec.name not in existing]
    if missing:
        admin = _Admin(settings)
        admin.create(missing)
        admin.await_partitions({spec.name: spec.partitions for spec in missing})
        log.info("kafka changelogs created", topics=[spec.name for spec in missing])
    return [spec.name for spec in missing]


def delete_all(settings: KafkaSettings, *, timeout: float = 30.0) -> list[str]:
    """Delete every topic of this prefix, faust's changelog topics included; returns their names.

    For throw-away prefixes (tests, benchmarks): the event log of a real deployment is never deleted
    by kestra-stream itself.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(settings.client_config())
    # Faust names its changelog topics after the app id: the prefix without its trailing separator.
    stem = settings.topic_prefix.rstrip(".-_")
    if not stem:
        raise BackendError("refusing to delete every topic of the broker: the topic prefix is empty")
    ours = sorted(t for t in admin.list_topics(timeout=timeout).topics if t.startswith(stem))
    for future in admin.delete_topics(ours, operation_timeout=timeout).values() if ours else ():
        future.result(timeout)
    return ours
