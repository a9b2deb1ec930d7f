"""The executor's batches: what arrived while the last batch was written, never waiting for more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kestra_stream.kafka.executor._batches import batches


class Source:
    """An async iterable fed by the test, as faust's stream is fed by its fetcher."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()
        self.drained = asyncio.Event()  # every record put was read (the reader queues it before it suspends)

    def put(self, *records: int) -> None:
        self.drained.clear()
        for record in records:
            self._queue.put_nowait(record)

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[int]:
        while (record := await self._queue.get()) is not None:
            if self._queue.empty():
                self.drained.set()
            yield record


async def test_a_lone_record_is_a_batch_of_one_at_once_and_records_arriving_meanwhile_make_the_next() -> None:
    source = Source()
    taken = batches(source, most=100)
    source.put(1)
    assert await asyncio.wait_for(anext(taken), 5) == [1]  # no waiting for a second record
    source.put(2, 3, 4)  # arrive while batch [1] is being written
    await source.drained.wait()
    assert await asyncio.wait_for(anext(taken), 5) == [2, 3, 4]
    await taken.aclose()


async def test_a_batch_holds_at_most_most_records_in_their_order() -> None:
    source = Source()
    taken = batches(source, most=3)
    source.put(*range(8))
    source.end()
    got = [batch async for batch in taken]
    assert [record for batch in got for record in batch] == list(range(8))
    assert all(1 <= len(batch) <= 3 for batch in got)


async def test_an_error_reading_the_source_ends_the_batches_with_it() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("fetch failed")

    taken = batches(failing(), most=10)
    with pytest.raises(RuntimeError, match="fetch failed"):
        async for _batch in taken:
            pass
