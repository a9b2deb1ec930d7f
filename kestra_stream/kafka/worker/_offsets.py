"""Which offsets of the jobs topic a worker may commit.

Jobs of one partition run concurrently and finish out of order, but a committed offset says
"everything before this is done". So an offset moves forward only over a contiguous run of
finished jobs: job 7 finishing before job 5 commits nothing until 5 (and 6) are done too.

The book is shared by the event loop (jobs start and finish there) and the consumer thread
(rebalance callbacks run inside ``poll``), hence the lock.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass, field


@dataclass(eq=False)
class PartitionOffsets:
    """The in-flight offsets of one assigned partition, for one assignment.

    A revoked partition's object is marked ``revoked``; a job that started under it and ends
    later changes nothing, so a reassignment starts clean from the committed offset.
    """

    topic: str
    partition: int
    _in_flight: list[int] = field(default_factory=list)  # a min-heap
    _done: set[int] = field(default_factory=set)
    _next: int | None = None  # the offset after the highest one seen
    _committed: int | None = None
    revoked: bool = False

    def started(self, offset: int) -> None:
        heapq.heappush(self._in_flight, offset)
        if self._next is None or offset + 1 > self._next:
            self._next = offset + 1

    def finished(self, offset: int) -> None:
        if not self.revoked:
            self._done.add(offset)

    def committable(self) -> int | None:
        """The offset to commit now (the first not finished), or None when it would not move."""
        while self._in_flight and self._in_flight[0] in self._done:
            self._done.discard(heapq.heappop(self._in_flight))
        candidate = self._in_flight[0] if self._in_flight else self._next
        if candidate is None or (self._committed is not None and candidate <= self._committed):
            return None
        return candidate

    def committed(self, offset: int) -> None:
        if self._committed is None or offset > self._committed:
            self._committed = offset

    @property
    def pending(self) -> int:
        """How many jobs started under this assignment are not finished."""
        return len(self._in_flight) - len(self._done)


class OffsetBook:
    """Every assigned partition of the jobs topic and its in-flight offsets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[tuple[str, int], PartitionOffsets] = {}

    def assigned(self, topic: str, partition: int) -> None:
        with self._lock:
            old = self._partitions.get((topic, partition))
            if old is None or old.revoked:
                self._partitions[(topic, partition)] = PartitionOffsets(topic, partition)

    def revoked(self, topic: str, partition: int) -> PartitionOffsets | None:
        """Forget a partition; returns its book so the caller can commit what was safe."""
        with self._lock:
            book = self._partitions.pop((topic, partition), None)
            if book is not None:
                book.revoked = True
            return book

    def started(self, topic: str, partition: int, offset: int) -> PartitionOffsets | None:
        """Record a job taken from the partition; None when the partition is not (or no longer) ours."""
        with self._lock:
            book = self._partitions.get((topic, partition))
            if book is not None:
                book.started(offset)
            return book

    def finished(self, book: PartitionOffsets, offset: int) -> None:
        with self._lock:
            book.finished(offset)

    def committable(self) -> list[tuple[str, int, int]]:
        """(topic, partition, offset) for each partition whose commit point moved."""
        with self._lock:
            found = []
            for (topic, partition), book in self._partitions.items():
                offset = book.committable()
                if offset is not None:
                    found.append((topic, partition, offset))
            return found

    def final_offset(self, book: PartitionOffsets) -> int | None:
        with self._lock:
            return book.committable()

    def committed(self, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            book = self._partitions.get((topic, partition))
            if book is not None:
                book.committed(offset)

    def partitions(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._partitions)
