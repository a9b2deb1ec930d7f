"""Kestra's ``encrypt(key, plaintext)`` and ``decrypt(key, encrypted)`` expression functions.

The key is given in base64 as the first argument (not the server's key), the scheme is that of
encrypted outputs (kestra_stream.encryption). Decrypting is pure; encrypting needs a fresh IV, which
only a worker draws (``Functions.nonce``): an executor's render is replayed, so its draws repeat, and
an IV used twice under one key gives the key's stream away.
"""

from __future__ import annotations

from typing import Any

from kestra_stream import encryption
from kestra_stream.expressions._functions import _scope
from kestra_stream.expressions._values import Failure


def _text(value: Any, function: str, argument: str) -> str:
    if not isinstance(value, str):
        raise Failure(f"{function}() expects '{argument}' to be a string, got {type(value).__name__}")
    return value


def encrypt(key: Any, plaintext: Any) -> str:
    text = _text(plaintext, "encrypt", "plaintext")
    if not text:  # as Kestra: an empty text stays empty
        return text
    try:
        aes_key = encryption.parse_key(_text(key, "encrypt", "key"), "the key of encrypt()")
    except encryption.EncryptionError as exc:
        raise Failure(str(exc)) from exc
    return encryption.encrypt(aes_key, text, _scope().functions.nonce(encryption.IV_LENGTH))


def decrypt(key: Any, encrypted: Any) -> str:
    try:
        aes_key = encryption.parse_key(_text(key, "decrypt", "key"), "the key of decrypt()")
        return encryption.decrypt(aes_key, _text(encrypted, "decrypt", "encrypted"))
    except encryption.EncryptionError as exc:
        raise Failure(str(exc)) from exc
