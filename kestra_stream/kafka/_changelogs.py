"""How the executor's table changelogs are configured, so that a restart reads what is live, not history.

faust creates each table's changelog as a compacted topic, but a broker compacts only closed
segments, and a segment closes after ``segment.ms`` (7 days by default) or ``segment.bytes`` (1 GiB):
until then every state an execution went through, and the tombstone its eviction wrote, stays in
the changelog, and a restarted executor replays all of it (68 s after 20,000 ended executions).
With segments rolled every minute and the cleaner allowed to run on a small dirty share, overwritten
states and evicted executions leave the changelog within minutes of their eviction; a restart then
reads the executions in flight, the last minute of writes and the tombstones still kept.

Compaction never removes a key's latest value, so what a SIGKILLed executor recovers is unchanged.
A tombstone is kept ``delete.retention.ms``: far longer than a recovery takes, so a recovery that has
read an execution's state also reads the tombstone that evicts it.

``kestra-stream topics apply`` (which renders ``changelog_specs`` next to the topics of topics.yaml)
creates the changelogs and brings those made earlier, or by another version, in line; an executor
started without it creates the missing ones at start (faust itself declares no topic). The module
stays outside ``kafka.executor`` so that applying topics does not import faust.
"""

from __future__ import annotations

from typing import Final

from kestra_stream.kafka._settings import KafkaSettings

# The executor's faust tables, in the order the executor declares them.
TABLES: Final[tuple[str, ...]] = ("executions", "timers", "slots", "ended")

# What the executor passes to faust as each table's ``extra_topic_configs``.
CHANGELOG_TOPIC_CONFIG: Final[dict[str, str]] = {
    "segment.ms": str(60_000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(300_000),
}

# Everything a changelog is created with: faust adds the compact policy to the settings above.
CHANGELOG_DECLARED_CONFIG: Final[dict[str, str]] = {"cleanup.policy": "compact", **CHANGELOG_TOPIC_CONFIG}


def changelog_topic(settings: KafkaSettings, table: str) -> str:
    """The topic faust names after the executor's app id for ``table`` (``faust.Table``'s own rule)."""
    return f"{settings.executor_app_id}-{table}-changelog"
