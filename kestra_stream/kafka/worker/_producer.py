"""A confluent-kafka producer whose sends can be awaited until the broker acknowledged them.

``produce`` only queues a record; the delivery report comes later through ``poll``, which a
dedicated thread calls so the event loop never blocks on the network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kestra_stream.errors import BackendError
from kestra_stream.kafka._settings import KafkaSettings

log = structlog.get_logger(__name__)

Delivery = concurrent.futures.Future[None]


class RecordRefused(BackendError):
    """A record the producer or the broker will never accept as it is; ``too_large`` when its size is why."""

    def __init__(self, message: str, *, too_large: bool) -> None:
        self.too_large = too_large
        super().__init__(message)


def _too_large(err: KafkaError) -> bool:
    return err.code() in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG_SIZE)


class DeliveringProducer:
    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        # Idempotence keeps librdkafka's internal retries from writing a record twice or out of order.
        # No linger: a task's result is on the critical path of its execution (the next task waits on
        # it), and lingering added its full 2 ms to every task. Records produced while a request is in
        # flight are still batched together.
        self._producer = Producer(settings.producer_config(**{"client.id": client_id, "linger.ms": 0}))
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{client_id}-deliveries", daemon=True)
        self._thread.start()

    def send(self, topic: str, key: str, value: bytes | None) -> Delivery:
        """Queue one record; the future ends when the broker has it (or with a BackendError)."""
        delivery: Delivery = concurrent.futures.Future()

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                delivery.set_result(None)
            elif _too_large(err):
                delivery.set_exception(RecordRefused(f"the broker refused a record of {len(value or b'')} bytes for "
                                                     f"topic {topic}: {err.str()}", too_large=True))
            else:
                delivery.set_exception(BackendError(f"record for topic {topic} (key {key}) was not delivered: "
                                                    f"{err.str()}; check that the topic exists and the broker "
                                                    f"is reachable"))

        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value, on_delivery=report)
                return delivery
            except BufferError:
                # The local queue is full: let the poll thread drain it rather than dropping a record.
                time.sleep(0.01)
            except KafkaException as exc:
                # Refused before it was queued (too large, unknown topic...): the future says so, the caller
                # decides; raised here it would end whatever task happened to log.
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                delivery.set_exception(RecordRefused(
                    f"the producer refused a record of {len(value or b'')} bytes for topic {topic}: {exc}",
                    too_large=error is not None and _too_large(error)))
                return delivery

    async def deliver(self, topic: str, key: str, value: bytes | None) -> None:
        await asyncio.wrap_future(self.send(topic, key, value))

    def _serve(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.1)

    async def close(self, flush_seconds: float = 10.0) -> None:
        """Deliver what is queued (for up to ``flush_seconds``), then stop the delivery thread."""
        remaining = await asyncio.to_thread(self._producer.flush, flush_seconds)
        self._closing.set()
        await asyncio.to_thread(self._thread.join)
        if remaining:
            log.warning("records_not_delivered_at_close", count=remaining)
