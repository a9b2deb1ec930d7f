"""Keep the executor's consumer from fetching its own tables' changelogs once they are recovered.

faust assigns every changelog partition of a table to the instance that owns the table's
partition, reads them to restore the table, and afterwards only "pauses" them in its own
bookkeeping: the aiokafka consumer underneath goes on fetching them. Every table write (one per
folded event) is then fetched back into aiokafka's buffer, where nothing ever takes it. aiokafka
sends no new fetch to a broker while a buffered batch waits to be taken, for up to its prefetch
backoff (100 ms): so the first state written to each partition's changelog after an assignment
held every event of every partition back for about 100 ms (measured: 68-100 ms on the first task
result of each of the first executions after a start, i.e. ~7 ms per task over a 10-task flow).

Pausing those partitions in aiokafka itself once recovery is over stops the fetches. A pause
lasts for one assignment only: aiokafka builds a fresh assignment on every rebalance, so the next
recovery reads the changelogs again, and ``on_rebalance_complete`` pauses them once more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Partition = tuple[str, int]


def _aiokafka_consumer(thread: Any) -> Any | None:
    # faust keeps the aiokafka client on its consumer thread (faust-streaming 0.15: ``_consumer``).
    return getattr(thread, "_consumer", None)


def _pause_on_consumer_thread(thread: Any, wanted: list[Partition]) -> list[Partition]:
    """Runs on faust's consumer thread (aiokafka's loop), so the assignment cannot change meanwhile."""
    client = _aiokafka_consumer(thread)
    if client is None:
        return []
    # Partitions moved away by a rebalance meanwhile are left out: the next recovery pauses the new set.
    found = [tp for tp in client.assignment() if (tp.topic, tp.partition) in set(wanted)]
    client.pause(*found)
    return sorted((tp.topic, tp.partition) for tp in found)


def _paused_on_consumer_thread(thread: Any) -> set[Partition]:
    client = _aiokafka_consumer(thread)
    if client is None:
        return set()
    return {(tp.topic, tp.partition) for tp in client.paused()}


def changelog_partitions(assignment: Iterable[Any], changelog_topics: Iterable[str]) -> list[Partition]:
    """The assigned partitions that belong to a table's changelog, sorted."""
    topics = set(changelog_topics)
    return sorted({(tp.topic, tp.partition) for tp in assignment if tp.topic in topics})


async def pause_changelog_fetching(app: Any) -> list[Partition]:
    """Pause fetching the app's assigned changelog partitions in aiokafka; returns those paused.

    Call once recovery is over (faust's ``on_rebalance_complete``). Without faust's consumer
    thread (another transport) nothing is paused: only latency suffers, never correctness.
    """
    consumer = app.consumer
    wanted = changelog_partitions(consumer.assignment(), app.tables.changelog_topics)
    thread = getattr(consumer, "_thread", None)
    if not wanted or thread is None or not hasattr(thread, "call_thread"):
        return []
    paused: list[Partition] = await thread.call_thread(_pause_on_consumer_thread, thread, wanted)
    log.debug("changelog_fetching_paused", partitions=len(paused))
    return paused


async def paused_fetching(app: Any) -> set[Partition]:
    """The partitions aiokafka does not fetch right now (paused), as (topic, partition)."""
    thread = getattr(app.consumer, "_thread", None)
    if thread is None or not hasattr(thread, "call_thread"):
        return set()
    paused: set[Partition] = await thread.call_thread(_paused_on_consumer_thread, thread)
    return paused
