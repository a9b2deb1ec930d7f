"""Ids are 22 base62 digits of a 128-bit number, most significant first, zero-padded."""

from __future__ import annotations

import random

from kestra_stream.ids import id_of, new_id

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def value_of(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + ALPHABET.index(char)
    return number


def test_an_id_is_its_number_in_base62_on_22_digits() -> None:
    numbers = [0, 1, 61, 62, 3843, 3844, 62**21 - 1, 62**21, 2**128 - 1,
               *(random.Random(7).getrandbits(128) for _ in range(500))]
    for number in numbers:
        text = id_of(number)
        assert len(text) == 22 and value_of(text) == number, number
    assert id_of(0) == "0" * 22 and id_of(61) == "0" * 21 + "z" and id_of(62) == "0" * 20 + "10"


def test_new_ids_are_22_base62_digits_and_differ() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 and set(i) <= set(ALPHABET) for i in ids)
