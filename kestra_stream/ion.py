"""Amazon Ion text, the format of Kestra's item files: one value read as plain Python values, or written.

The Ion library is imported on first use: only the tasks and expressions that read or write Ion load it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any


def ion_value(text: str) -> Any:
    """One Ion value (a line of an item file) as plain Python values: maps, lists, text, numbers, booleans,
    None. Decimals become floats, timestamps ISO-8601 text, symbols their text, typed nulls None."""
    from amazon.ion import simpleion

    return _plain(simpleion.loads(text))


def ion_text(value: Any) -> str:
    """``value`` (plain Python values) as Ion text, without the version marker (Kestra's ``toIon``)."""
    from amazon.ion import simpleion

    text: str = simpleion.dumps(value, binary=False, omit_version_marker=True)
    return text


def _plain(value: Any) -> Any:
    from amazon.ion.core import IonType
    from amazon.ion.simple_types import IonPyNull

    ion_type = getattr(value, "ion_type", None)
    if value is None or isinstance(value, IonPyNull):  # typed nulls too (null.string ...)
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if ion_type == IonType.BOOL:
        return bool(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    text = getattr(value, "text", None)  # a symbol
    return text if isinstance(text, str) else str(value)
