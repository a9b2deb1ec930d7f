"""Records the executor cannot read: kept aside on the dead-letter topic, counted, logged boundedly.

A record of the executor's inbox that no version of the wire format reads (written by a newer
version, corrupt) cannot be applied, and must not stop its partition either: every execution
behind it would wait forever. The executor copies it, as it was, to the dead-letter topic with
headers saying where it came from and why it was refused, then moves past it. The execution it
was for (its key) is told by a ``RecordUnreadable`` event, so a running execution ends FAILED
rather than waiting for a result it will never read.

Logging: the first refusal in a window of ``every`` seconds is logged with its error; the others
are counted and summed up in the next window's line, so a flood of bad records writes a bounded
number of lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from kestra_stream.executor.runtime import Clock

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Refused:
    topic: str
    partition: int
    offset: int
    key: str | None
    error: str

    def headers(self) -> list[tuple[str, bytes]]:
        return [("source.topic", self.topic.encode()), ("source.partition", str(self.partition).encode()),
                ("source.offset", str(self.offset).encode()), ("error", self.error.encode())]


class DeadLetterLog:
    """How many records were dead-lettered, and a log line per window of ``every`` seconds at most."""

    def __init__(self, what: str, clock: Clock, *, every: float = 60.0) -> None:
        self.what = what
        self.total = 0
        self._clock = clock
        self._every = every
        self._window_start: float | None = None
        self._unlogged = 0

    def refused(self, record: Refused, dead_letter_topic: str) -> None:
        self.total += 1
        now = self._clock.monotonic()
        if self._window_start is not None and now - self._window_start < self._every:
            self._unlogged += 1
            return
        log.error(f"{self.what}_dead_lettered", topic=record.topic, partition=record.partition,
                  offset=record.offset, execution_id=record.key, error=record.error, to=dead_letter_topic,
                  also_since_last_line=self._unlogged, total=self.total)
        self._window_start = now
        self._unlogged = 0
