"""The executor's inbox commit point: every record before it was folded, whatever faust acknowledged."""

from __future__ import annotations

from typing import NamedTuple

from kestra_stream.kafka.executor._commits import FoldedOffsets, hold_commits_to_folded

INBOX = "p.executor"


def test_the_commit_point_moves_over_contiguous_folded_offsets_only() -> None:
    offsets = FoldedOffsets(frozenset({INBOX}))
    for offset in (10, 11, 12):
        offsets.folded(INBOX, 0, offset)
    assert offsets.commit_point(INBOX, 0, committed=10) == 13


def test_a_record_never_folded_holds_its_partition_back_however_many_follow_it() -> None:
    offsets = FoldedOffsets(frozenset({INBOX}))
    # Offset 10 was dropped by the consumer (acknowledged as skipped, or lost in a gap): never folded.
    for offset in range(11, 40):
        offsets.folded(INBOX, 0, offset)
    assert offsets.commit_point(INBOX, 0, committed=10) is None
    # Read again from the committed offset, it is folded at last, and so are those after it (again).
    for offset in range(10, 40):
        offsets.folded(INBOX, 0, offset)
    assert offsets.commit_point(INBOX, 0, committed=10) == 40


def test_partitions_are_held_independently_and_folded_offsets_are_forgotten_once_committed() -> None:
    offsets = FoldedOffsets(frozenset({INBOX}))
    offsets.folded(INBOX, 0, 5)
    offsets.folded(INBOX, 1, 7)
    assert offsets.commit_point(INBOX, 1, committed=6) is None
    assert offsets.commit_point(INBOX, 0, committed=5) == 6
    assert offsets.commit_point(INBOX, 0, committed=6) is None
    offsets.folded(INBOX, 1, 6)
    assert offsets.commit_point(INBOX, 1, committed=6) == 8


def test_a_hole_is_reported_as_held_until_folded_and_rereading_restarts_its_clock() -> None:
    offsets = FoldedOffsets(frozenset({INBOX}))
    assert offsets.held_for() is None
    offsets.folded(INBOX, 0, 11)
    assert offsets.commit_point(INBOX, 0, committed=10) is None
    before = offsets.held_for()
    assert before is not None
    offsets.reread()
    after = offsets.held_for()
    assert after is not None and after <= before + 1.0
    offsets.folded(INBOX, 0, 10)
    assert offsets.commit_point(INBOX, 0, committed=10) == 12
    assert offsets.held_for() is None


class _TP(NamedTuple):
    topic: str
    partition: int


class _Consumer:
    """The two members of faust's consumer the hold replaces and reads."""

    def __init__(self, answer: int | None, committed: dict[_TP, int | None]) -> None:
        self._committed_offset = committed
        self._answer = answer

    def _new_offset(self, _tp: _TP) -> int | None:
        return self._answer


class _App:
    def __init__(self, consumer: _Consumer) -> None:
        self.consumer = consumer


def test_a_partition_never_committed_is_committed_from_where_the_group_began_not_from_fausts_answer() -> None:
    offsets = FoldedOffsets(frozenset({INBOX}))
    # faust keeps no committed offset for a new group's partition (nor for one committed at 0).
    consumer = _Consumer(answer=5, committed={_TP(INBOX, 0): None})
    hold_commits_to_folded(_App(consumer), offsets)
    for offset in (4, 5):  # 0-3 were acknowledged by faust but never folded
        offsets.folded(INBOX, 0, offset)
    assert consumer._new_offset(_TP(INBOX, 0)) is None  # where it began is not known yet: nothing committed
    offsets.starts({(INBOX, 0): 0})
    assert consumer._new_offset(_TP(INBOX, 0)) is None  # held at 0, not moved to faust's 5
    for offset in range(4):
        offsets.folded(INBOX, 0, offset)
    assert consumer._new_offset(_TP(INBOX, 0)) == 6
    assert consumer._new_offset(_TP("other", 0)) == 5  # topics not held keep faust's answer
