"""Identifiers as Kestra shapes them: 22 base62 characters.

The executor core derives ids from what they identify (no randomness in the fold, so a
replayed log yields the same ids); backends draw fresh ones for new executions.
"""

from __future__ import annotations

import hashlib
import uuid

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int = 22) -> str:
    out = []
    while number:
        number, rem = divmod(number, 62)
        out.append(_ALPHABET[rem])
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
