"""Following executions: one backend subscription fanned out to every request that follows one,
and server-sent events written the way Kestra writes them (``id: progress`` / ``id: end``).

``Backend.subscribe`` has no unsubscribe, so a backend is subscribed once, by the first request
that follows anything (``feed_for``); each follower then gets its own queue for the executions it
watches, and leaves when its request ends. Listeners may be called from any thread (the Kafka
client's consumer thread, a backend on another loop): states reach the follower's loop through
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic_core import to_json

from kestra_stream.backend import Backend
from kestra_stream.executor.fold import ExecutionState


@dataclass(frozen=True, eq=False)
class _Follower:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[ExecutionState]


class ExecutionFeed:
    """Every state a backend publishes, handed to the followers of its execution."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._followers: dict[str, list[_Follower]] = {}

    def publish(self, state: ExecutionState) -> None:
        """The backend's listener: called with each new state, on whatever thread the backend uses."""
        with self._lock:
            followers = list(self._followers.get(state.execution.id, ()))
        for follower in followers:
            # A follower whose loop closed meanwhile (its request is gone) has nothing left to receive.
            with contextlib.suppress(RuntimeError):
                follower.loop.call_soon_threadsafe(follower.queue.put_nowait, state)

    @contextlib.contextmanager
    def follow(self, execution_id: str) -> Iterator[asyncio.Queue[ExecutionState]]:
        """A queue of the states of ``execution_id`` published from now until the block ends."""
        follower = _Follower(asyncio.get_running_loop(), asyncio.Queue())
        with self._lock:
            self._followers.setdefault(execution_id, []).append(follower)
        try:
            yield follower.queue
        finally:
            with self._lock:
                followers = self._followers.get(execution_id, [])
                if follower in followers:
                    followers.remove(follower)
                if not followers:
                    self._followers.pop(execution_id, None)

    def following(self) -> int:
        """How many followers are registered (0 once every request that followed has ended)."""
        with self._lock:
            return sum(len(f) for f in self._followers.values())


_FEEDS: weakref.WeakKeyDictionary[Any, ExecutionFeed] = weakref.WeakKeyDictionary()
_FEEDS_LOCK = threading.Lock()


def feed_for(backend: Backend) -> ExecutionFeed:
    """The feed of ``backend``, subscribed to it on first use (once per backend, whatever the app)."""
    with _FEEDS_LOCK:
        feed = _FEEDS.get(backend)
        if feed is None:
            feed = _FEEDS[backend] = ExecutionFeed()
            backend.subscribe(feed.publish)
        return feed


# ----- server-sent events ------------------------------------------------------------------------
KEEPALIVE_SECONDS = 10.0


async def open_event_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    return response


async def send_event(response: web.StreamResponse, event_id: str, data: Any) -> None:
    """One event: ``id`` then the JSON of ``data`` (models in Kestra's camelCase)."""
    await response.write(b"id: " + event_id.encode() + b"\ndata: " + to_json(data, by_alias=True) + b"\n\n")


async def send_keepalive(response: web.StreamResponse) -> None:
    """A comment line: keeps proxies from closing an idle stream, and fails once the client has gone."""
    await response.write(b": keep-alive\n\n")
