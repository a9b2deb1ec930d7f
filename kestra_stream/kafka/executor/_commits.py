"""Commit an inbox partition only up to the records the agent folded, never past one it was not handed.

faust computes the offset it commits from the records *acknowledged*, and several of its paths
acknowledge a record no agent ever saw: a record taken while flow control is suspended or from
an older consumer generation is acked as "skipped"; records left in a batch when ``getmany``
stops early are never delivered, and the next delivered offset then opens a *gap* that faust
counts as done (a gap is meant for compacted or transactional topics, which the inbox is not);
the seek to the committed offsets that ends a recovery resets the read offset under a batch
being delivered, which opens such a gap too (seen after a restart: a gap of 241-250, then 251
committed while 242-249 were not acknowledged); and a head gap of one offset passes faust's
check (faust-streaming#606). Each of these can commit past
an event nobody folded: after a restart that event is never read again, and its execution
waits forever (a result never applied, a creation never folded).

Here the agent records the offset of every record once ``handle`` made it durable, and faust's
commit point for those partitions is the first offset, from the committed one, not recorded.
A record faust dropped then holds its partition's commit point back: the lag stays, and the
executor's stall watchdog reads the partition again from the committed offset, which hands the
record over. Records folded after the hole are folded again then, which the fold ignores.

A partition the group never committed (or committed at 0, which faust keeps as "none") has no
committed offset to count from: its start is where the group began reading it, fetched when it is
assigned (``starts``). Trusting faust's answer there lost the first records of a partition when two
executors started together (the scale-out test: offsets 0-3 of a partition committed past, never
folded). For the same partitions aiokafka's seek to the committed offsets does not move (it seeks only
past 0): the re-read seeks them to their start itself (``reread``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class FoldedOffsets:
    """Offsets folded per (topic, partition) that are not committed yet; faust's consumer asks for the commit point."""

    def __init__(self, topics: frozenset[str]) -> None:
        self.topics = topics
        self._folded: defaultdict[tuple[str, int], set[int]] = defaultdict(set)
        # (topic, partition) -> the committed offset it is held at, and since when (monotonic seconds)
        self._held: dict[tuple[str, int], tuple[int, float]] = {}
        # (topic, partition) -> where the group began reading it, for a partition faust knows no commit of
        self._starts: dict[tuple[str, int], int] = {}

    def starts(self, offsets: dict[tuple[str, int], int]) -> None:
        """Where the group reads each newly assigned partition from: its committed offset, or the log's start."""
        self._starts.update(offsets)

    def start(self, topic: str, partition: int) -> int | None:
        return self._starts.get((topic, partition))

    def folded(self, topic: str, partition: int, offset: int) -> None:
        self._folded[(topic, partition)].add(offset)

    def commit_point(self, topic: str, partition: int, committed: int) -> int | None:
        """The offset to commit (every record before it folded), or None when it would not move."""
        key = (topic, partition)
        folded = self._folded[key]
        point = committed
        while point in folded:
            point += 1
        if point == committed:
            held = self._held.get(key)
            if folded and min(folded) > committed and (held is None or held[0] != committed):
                # Said once per hole: the commit runs every second until the record is read again.
                self._held[key] = (committed, time.monotonic())
                log.warning("inbox_commit_held", topic=topic, partition=partition, committed=committed,
                            next_folded=min(folded), reason="a record before it was acknowledged but never folded")
            return None
        self._held.pop(key, None)
        self._folded[key] = {offset for offset in folded if offset >= point}
        return point

    def held_for(self) -> float | None:
        """Seconds since the oldest hole began to hold its partition back (None when none does)."""
        if not self._held:
            return None
        return time.monotonic() - min(since for _committed, since in self._held.values())

    def reread(self) -> None:
        """The partitions are read again from their committed offsets: each hole gets as long again to be filled."""
        now = time.monotonic()
        self._held = {key: (committed, now) for key, (committed, _since) in self._held.items()}


def hold_commits_to_folded(app: Any, offsets: FoldedOffsets) -> None:
    """Make ``app``'s consumer commit the partitions of ``offsets.topics`` only up to what was folded."""
    consumer = app.consumer
    faust_new_offset = consumer._new_offset

    def new_offset(tp: Any) -> int | None:
        # faust's own computation still runs: it trims its acked lists and gaps, which would grow otherwise.
        theirs: int | None = faust_new_offset(tp)
        if tp.topic not in offsets.topics:
            return theirs
        committed = consumer._committed_offset.get(tp) or offsets.start(tp.topic, tp.partition)
        if committed is None:
            return None  # its start is not known yet (being assigned): nothing to commit before it is
        return offsets.commit_point(tp.topic, tp.partition, committed)

    consumer._new_offset = new_offset


async def reread(app: Any, offsets: FoldedOffsets) -> None:
    """Read the partitions of ``offsets.topics`` again from their committed offsets (or their start)."""
    consumer = app.consumer
    await consumer.perform_seek()
    for tp in consumer.assignment():
        start = offsets.start(tp.topic, tp.partition)
        if tp.topic in offsets.topics and not consumer._committed_offset.get(tp) and start is not None:
            await consumer.seek(tp, start)  # left where it was by aiokafka: see the module's docstring
    offsets.reread()
