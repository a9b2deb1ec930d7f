"""Waiting for an event with a time limit, in the loops that components stop by cancelling."""

from __future__ import annotations

import asyncio

__all__ = ["wait_set"]


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` was set within ``seconds``.

    Not ``asyncio.wait_for``: on Python 3.11 it loses a cancellation that lands as its time runs out
    (it raises TimeoutError instead), and a loop that takes the timeout for a tick then runs on after
    its component was stopped, so the stop waits for it forever. ``asyncio.timeout`` tells the two apart.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
