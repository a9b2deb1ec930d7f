"""Ion lines as FilterItems and DeduplicateItems read them: plain values an expression can use."""

from __future__ import annotations

from typing import Any

import pytest

from kestra_stream.ion import ion_value


@pytest.mark.parametrize(("line", "expected"), [
    ('{key:"k1",value:1}', {"key": "k1", "value": 1}),
    ('{"key": "k2", "value": [1, 2.5, true]}', {"key": "k2", "value": [1, 2.5, True]}),
    ("{a: null, b: null.string, c: 1.50, d: 2.0, e: sym, f: 2024-01-02T03:04:05Z}",
     {"a": None, "b": None, "c": 1.5, "d": 2.0, "e": "sym", "f": "2024-01-02T03:04:05+00:00"}),
])
def test_an_ion_line_reads_as_plain_values(line: str, expected: dict[str, Any]) -> None:
    value = ion_value(line)
    assert value == expected
    assert [type(v) for v in value.values()] == [type(v) for v in expected.values()]
