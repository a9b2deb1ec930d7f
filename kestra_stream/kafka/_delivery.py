"""A producer whose sends are awaited until the broker acknowledged them, without a thread per send.

One thread of its own serves the delivery reports (``Producer.poll``); each send waits on a future
that its report resolves. Flushing after each send on a pool thread cost the API a thread hop and
a flush per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, Producer


@dataclass(frozen=True)
class Delivery:
    """A send's report: the broker's error, or the offset the record got (None when no report came)."""

    error: str | None = None
    offset: int | None = None


def _settle(future: asyncio.Future[Delivery], delivery: Delivery) -> None:
    if not future.done():
        future.set_result(delivery)


class AwaitedProducer:
    def __init__(self, config: dict[str, Any], *, name: str) -> None:
        self._producer = Producer(config)
        self._name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def send(self, topic: str, key: bytes, value: bytes | None, timeout: float) -> Delivery:  # noqa: ASYNC109
        """Produce one record and wait up to ``timeout`` for its report.

        No error and no offset when no report came within ``timeout`` (the broker is away): the record
        stays queued and may still be delivered, as after a flush that timed out.
        """
        loop = asyncio.get_running_loop()
        report: asyncio.Future[Delivery] = loop.create_future()

        def delivered(err: object, msg: Message) -> None:
            delivery = Delivery(offset=msg.offset()) if err is None else Delivery(error=str(err))
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
                loop.call_soon_threadsafe(_settle, report, delivery)

        self._polling()
        self._producer.produce(topic, key=key, value=value, on_delivery=delivered)
        try:
            return await asyncio.wait_for(report, timeout)
        except TimeoutError:
            return Delivery()

    def _polling(self) -> None:
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._poll, name=self._name, daemon=True)
                self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    async def close(self, timeout: float) -> None:  # noqa: ASYNC109
        """Stop serving reports once what is queued was delivered (or ``timeout`` passed)."""
        await asyncio.to_thread(self._producer.flush, timeout)
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            await asyncio.to_thread(thread.join, 5)
