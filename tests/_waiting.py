"""Polling until a condition holds: for what another task, thread or process does on its own.

A test waits for the condition it asserts, never for a count an earlier write already reaches,
and a deadline only bounds how long a failing test takes, so it is generous.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["until", "until_value"]


async def until(check: Callable[[], bool], what: str, within: float = 120.0, *,
                describe: Callable[[], str] = str, every: float = 0.05) -> None:
    """Return once ``check()`` holds; fail naming ``what`` (and ``describe()``) after ``within`` s."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            detail = describe()
            raise AssertionError(f"waited {within:g} s in vain for: {what}" + (f"\n{detail}" if detail else ""))
        await asyncio.sleep(every)


def until_value(probe: Callable[[], T | None], what: str, within: float = 180.0, *, every: float = 0.25) -> T:
    """The first value ``probe()`` gives that is not None, polling from a synchronous test."""
    deadline = time.monotonic() + within
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within:g} s in vain for: {what}")
        time.sleep(every)
    return value
