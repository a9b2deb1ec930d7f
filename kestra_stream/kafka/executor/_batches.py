"""The fold agent takes its events in batches: whatever has arrived while the last batch was written.

A batch's events are folded one by one, in order, and their effects written together: every message
of every event produced and acknowledged by the broker, then the tables, then one flush. So the
broker round trips (and faust's per-send overhead) are paid once per batch instead of once per event.

A batch never waits for more events: it is what was already fetched, up to ``most``. Waiting T ms
for a batch to fill would add T to every step of every execution (a 40-task flow pays it 40 times);
taking what is there costs nothing when the executor keeps up (batches of one) and grows the
batches by itself when it falls behind, which is when they pay.

The stream is read by a task of its own into a bounded queue, so the agent never blocks waiting for
a record while it holds a batch. Records are acknowledged (``Stream.ack``) only once their batch is
durable, so a rebalance (faust waits for every record handed out to be acknowledged) lets the batch
finish first, as it let a single event before. The commit point itself does not follow those
acknowledgements but the folded offsets (see ``_commits``).

faust writes a table change to the changelog partition of the *current event*, a context variable
its stream sets in the task that iterates it: the agent sets it to each record before writing that
record's tables (``current``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TypeVar

from faust.streams import _current_event
from faust.types import EventT

T = TypeVar("T")


async def batches(records: AsyncIterable[T], most: int) -> AsyncIterator[list[T]]:
    """The records of ``records`` in lists of at most ``most``: each one what had arrived, never waiting
    for a second record; ends when ``records`` ends (and raises what reading it raised)."""
    queue: asyncio.Queue[T] = asyncio.Queue(maxsize=most)

    async def read() -> None:
        async for record in records:
            await queue.put(record)

    reader = asyncio.create_task(read())
    getting: asyncio.Future[T] | None = None
    try:
        while True:
            if queue.empty():
                if reader.done():
                    reader.result()  # the stream ended: its error, if it had one
                    return
                getting = asyncio.ensure_future(queue.get())
                await asyncio.wait({getting, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    continue  # the reader ended; what it queued last is taken above
                batch = [getting.result()]
                getting = None
            else:
                batch = [queue.get_nowait()]
            while len(batch) < most and not queue.empty():
                batch.append(queue.get_nowait())
            yield batch
    finally:
        if getting is not None:
            getting.cancel()
        reader.cancel()


@contextmanager
def current(record: EventT[bytes]) -> Iterator[None]:
    """Table writes in this block go to ``record``'s changelog partition (faust reads the current event)."""
    token = _current_event.set(weakref.ref(record))
    try:
        yield
    finally:
        _current_event.reset(token)
