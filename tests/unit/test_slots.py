"""Flow concurrency books: who holds a slot, who waits, and in which order they start."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from kestra_stream.executor.events import Dequeued, Rejected
from kestra_stream.executor.slots import SlotBook, SlotRequest, apply_request

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _acquire(execution_id: str, minute: int | None, behavior: Literal["QUEUE", "CANCEL"] = "QUEUE") -> SlotRequest:
    created = T0 + timedelta(minutes=minute) if minute is not None else None
    return SlotRequest(kind="acquire", execution_id=execution_id, namespace="ns", flow_id="f", limit=1,
                       behavior=behavior, created_at=created)


def _release(execution_id: str) -> SlotRequest:
    return SlotRequest.release(execution_id, "ns", "f")


def _dequeued(events: Sequence[object]) -> list[str]:
    return [e.execution_id for e in events if isinstance(e, Dequeued)]


def test_queued_executions_start_in_creation_order_whatever_order_their_requests_arrive_in() -> None:
    book = SlotBook()
    book, events = apply_request(book, _acquire("a", 0), T0)
    assert _dequeued(events) == ["a"]
    for execution_id, minute in [("d", 3), ("b", 1), ("c", 2)]:
        book, events = apply_request(book, _acquire(execution_id, minute), T0)
        assert events == []
    assert book.queued == ["b", "c", "d"]
    started = []
    for holder in ["a", "b", "c"]:
        book, events = apply_request(book, _release(holder), T0)
        started += _dequeued(events)
    assert started == ["b", "c", "d"]
    assert book.holders == ["d"] and book.queued == [] and book.created == {}


def test_requests_without_a_creation_date_queue_after_dated_ones_in_arrival_order() -> None:
    book, _ = apply_request(SlotBook(), _acquire("a", 0), T0)
    for execution_id, minute in [("x", None), ("c", 2), ("y", None), ("b", 1)]:
        book, _ = apply_request(book, _acquire(execution_id, minute), T0)
    assert book.queued == ["b", "c", "x", "y"]


def test_a_redelivered_acquire_changes_nothing_and_a_full_flow_rejects_with_cancel() -> None:
    book, _ = apply_request(SlotBook(), _acquire("a", 0), T0)
    again, events = apply_request(book, _acquire("a", 0), T0)
    assert again == book and _dequeued(events) == ["a"]
    _, events = apply_request(book, _acquire("z", 5, behavior="CANCEL"), T0)
    assert [type(e) for e in events] == [Rejected]
