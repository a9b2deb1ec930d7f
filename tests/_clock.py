"""A fake clock for the scheduler's ``now``: a test sets the time and calls ``tick``."""

from __future__ import annotations

from datetime import datetime

__all__ = ["Clock"]


class Clock:
    def __init__(self, start: str) -> None:
        self.value = datetime.fromisoformat(start)

    def __call__(self) -> datetime:
        return self.value

    def set(self, text: str) -> None:
        self.value = datetime.fromisoformat(text)
