"""bench_server_memory: reading a process's memory, and summing a tree, from recorded /proc text."""

from __future__ import annotations

import os

import pytest
from bench_server_memory import Memory, memory_rows, parse_smaps_rollup, total, tree_memory

ROLLUP = """55d4c8a3e000-7ffd5a5f7000 ---p 00000000 00:00 0                          [rollup]
Rss:              112344 kB
Pss:               70512 kB
Pss_Dirty:         60100 kB
Shared_Clean:      40000 kB
"""


def test_rss_and_pss_are_read_from_smaps_rollup_in_kib() -> None:
    assert parse_smaps_rollup(ROLLUP) == Memory(rss_kib=112344, pss_kib=70512)


def test_a_rollup_without_pss_is_refused() -> None:
    with pytest.raises(ValueError, match="no Rss and Pss"):
        parse_smaps_rollup("Rss: 10 kB\n")


def test_the_tree_total_sums_every_process_and_the_rows_carry_each_one() -> None:
    memory = {"supervisor 1": Memory(2048, 1024), "python executor 2": Memory(4096, 3072)}

    assert total(memory) == Memory(6144, 4096)
    pss, rss = memory_rows("idle", 0, memory)
    assert (pss.value, rss.value) == (4.0, 6.0)
    assert pss.extra["processes"]["python executor 2"] == {"rss_mib": 4.0, "pss_mib": 3.0}


def test_the_root_of_a_live_tree_is_read_from_proc() -> None:
    memory = tree_memory(os.getpid())[f"supervisor {os.getpid()}"]

    assert memory.pss_kib > 0 and memory.rss_kib >= memory.pss_kib
