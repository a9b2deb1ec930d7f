"""One truthiness rule for everything that decides on a rendered value: runIf, If, SLA assertions, flow
checks and conditions.

Kestra's: a text is false when, trimmed, it is ``false``, ``0``, ``-0`` or empty. Here the compare is
also case-insensitive, because a Python ``False`` rendered into text is ``False``. Values that were
not rendered into text keep their meaning: ``None`` is false, booleans are themselves, numbers are
true when non-zero, collections when non-empty; anything else is true.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FALSE_TEXTS = frozenset({"false", "0", "-0", ""})


def is_truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_TEXTS
    if isinstance(value, Mapping | list | tuple | set):
        return len(value) > 0
    return True
