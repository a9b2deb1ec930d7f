"""Identifiers as Kestra shapes them: 22 base62 characters.

The executor core derives ids from what they identify (no randomness in the fold, so a
replayed log yields the same ids); backends draw fresh ones for new executions.
"""

from __future__ import annotations

import hashlib
import uuid

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# Two digits per division: half the big-integer divisions of a digit at a time, on every id made.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_BASE = len(_PAIRS)


def _base62(number: int, width: int = 22) -> str:
    out = []
    while number:
        number, rem = divmod(number, _PAIR_BASE)
        out.append(_PAIRS[rem])
    # A leading "0" of the first pair is one of the zeros the padding adds anyway.
    return "".join(reversed(out)).rjust(width, "0")[-width:]


def derive_id(*parts: object) -> str:
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return _base62(int.from_bytes(digest, "big"))


def id_of(number: int) -> str:
    """The id a 128-bit number gives (what ``new_id`` does with a random one)."""
    return _base62(number)


def new_id() -> str:
    return _base62(uuid.uuid4().int)


def unit_interval(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts`` (random retry backoff without randomness)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
