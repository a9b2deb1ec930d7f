"""The executor's inbox commit point: every record before it was folded, whatever faust acknowledged."""

from __future__ import annotations

from kestra_stream.kafka.executor._commits import FoldedOffsets

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
