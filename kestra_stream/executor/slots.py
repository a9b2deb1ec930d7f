"""Flow concurrency limits: who holds a slot and who waits, per flow (pure, shared by both backends).

A flow's book lists the executions holding a slot and those queued in creation order (on Kafka,
creations spread over partitions reach the book in any order). Whoever
keeps the books must see every request of a flow in order: the embedded engine's single loop,
or on Kafka the one agent of the concurrency topic (keyed by ``namespace/flowId``). Requests are
idempotent: a redelivered acquire of a holder answers the same Dequeued again (same event id,
which the fold ignores), a redelivered release of an execution no longer in the book changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kestra_stream.executor.commands import AcquireSlot
from kestra_stream.executor.events import Dequeued, Event, Rejected
from kestra_stream.ids import derive_id
from kestra_stream.models.state import StateType


class SlotRequest(BaseModel):
    """A value of the concurrency topic: an execution asks for a slot, or gives its slot back."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["acquire", "release"]
    execution_id: str
    namespace: str
    flow_id: str
    limit: int = 1
    behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE"
    created_at: datetime | None = None

    @property
    def key(self) -> str:
        return slot_key(self.namespace, self.flow_id)

    @classmethod
    def acquire(cls, command: AcquireSlot) -> SlotRequest:
        return cls(kind="acquire", execution_id=command.execution_id, namespace=command.namespace,
                   flow_id=command.flow_id, limit=command.limit, behavior=command.behavior,
                   created_at=command.created_at)

    @classmethod
    def release(cls, execution_id: str, namespace: str, flow_id: str) -> SlotRequest:
        return cls(kind="release", execution_id=execution_id, namespace=namespace, flow_id=flow_id)


class SlotBook(BaseModel):
    """One flow's slots, as kept in the slots table (JSON)."""

    limit: int = 1
    holders: list[str] = Field(default_factory=list)
    queued: list[str] = Field(default_factory=list)
    # When each queued execution was created (those that said so), to keep ``queued`` in that order.
    created: dict[str, datetime] = Field(default_factory=dict)


def slot_key(namespace: str, flow_id: str) -> str:
    return f"{namespace}/{flow_id}"


def apply_request(book: SlotBook, request: SlotRequest, at: datetime) -> tuple[SlotBook, list[Event]]:
    """The book after ``request`` and the events answering it (Dequeued / Rejected, to the executor inbox)."""
    holders, queued, created = list(book.holders), list(book.queued), dict(book.created)
    execution_id = request.execution_id
    if request.kind == "acquire":
        limit = request.limit
        if execution_id in holders:
            return book, [_dequeued(execution_id, at)]
        if execution_id in queued:
            return book, []
        if len(holders) < limit:
            holders.append(execution_id)
            return SlotBook(limit=limit, holders=holders, queued=queued), [_dequeued(execution_id, at)]
        if request.behavior == "QUEUE":
            if request.created_at is not None:
                created[execution_id] = request.created_at
            queued.append(execution_id)
            queued.sort(key=lambda q: (q not in created, created.get(q, at)))
            return SlotBook(limit=limit, holders=holders, queued=queued, created=created), []
        state = StateType.CANCELLED if request.behavior == "CANCEL" else StateType.FAILED
        return book, [Rejected(event_id=derive_id("rejected", execution_id), execution_id=execution_id, at=at,
                               state=state)]
    if execution_id not in holders and execution_id not in queued:
        return book, []
    holders = [h for h in holders if h != execution_id]
    queued = [q for q in queued if q != execution_id]
    created.pop(execution_id, None)
    events: list[Event] = []
    while queued and len(holders) < book.limit:
        next_id = queued.pop(0)
        created.pop(next_id, None)
        holders.append(next_id)
        events.append(_dequeued(next_id, at))
    return SlotBook(limit=book.limit, holders=holders, queued=queued, created=created), events


def book_from_table(value: Any) -> SlotBook:
    return SlotBook() if value is None else SlotBook.model_validate(value)


def _dequeued(execution_id: str, at: datetime) -> Dequeued:
    return Dequeued(event_id=derive_id("dequeued", execution_id), execution_id=execution_id, at=at)
