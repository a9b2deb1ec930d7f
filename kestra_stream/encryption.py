"""Kestra's encrypted outputs: AES-256 in GCM mode under the server's key, as its EncryptionService does.

The key is the environment variable ``KESTRA_STREAM_ENCRYPTION_SECRET_KEY`` of the worker, holding the
key's bytes in base64 (what Kestra's ``kestra.encryption.secret-key`` holds: a value encrypted by one
decrypts in the other). A value encrypted is a random 12-byte IV followed by the ciphertext and its
128-bit tag, the whole in base64; an output holding one is the map
``{"type": "io.kestra.datatype:aes_encrypted", "value": ...}`` (Kestra's EncryptedString), which a
worker decrypts in the variables it renders a task's properties with.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_VARIABLE = "KESTRA_STREAM_ENCRYPTION_SECRET_KEY"
ENCRYPTED_TYPE = "io.kestra.datatype:aes_encrypted"


class EncryptionError(ValueError):
    """No key, a key that is not one, or a value this key did not encrypt."""


def parse_key(text: str, where: str) -> bytes:
    """The AES key held in base64 by ``text``; ``where`` names it in the error."""
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise EncryptionError(f"{where} is not valid base64 text") from exc
    if len(key) not in (16, 24, 32):
        raise EncryptionError(f"{where} decodes to {len(key)} bytes; an AES key has 16, 24 or 32 "
                              "(32 for AES-256)")
    return key


def key_from(environ: Mapping[str, str]) -> bytes:
    """The server's key from ``environ``; an error saying what to set when there is none or it is not a key."""
    raw = environ.get(KEY_VARIABLE)
    if not raw:
        raise EncryptionError(f"no encryption key is configured: set the environment variable {KEY_VARIABLE} "
                              "of the worker to a 256-bit AES key in base64 (for example the output of "
                              "`openssl rand -base64 32`)")
    return parse_key(raw, KEY_VARIABLE)


IV_LENGTH = 12


def encrypt(key: bytes, plaintext: str, iv: bytes | None = None) -> str:
    """``plaintext`` encrypted under ``key``; ``iv`` (12 bytes never used with this key) is drawn when not given."""
    iv = os.urandom(IV_LENGTH) if iv is None else iv
    return base64.b64encode(iv + _cipher(key).encrypt(iv, plaintext.encode(), None)).decode()


def _cipher(key: bytes) -> AESGCM:
    # Imported on first use: every command imports this module (expressions, worker), few encrypt.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def decrypt(key: bytes, encrypted: str) -> str:
    if not encrypted:  # Kestra leaves an empty text as it is rather than encrypting it
        return encrypted
    from cryptography.exceptions import InvalidTag

    try:
        data = base64.b64decode(encrypted, validate=True)
        return _cipher(key).decrypt(data[:IV_LENGTH], data[IV_LENGTH:], None).decode()
    except (binascii.Error, InvalidTag, ValueError) as exc:
        raise EncryptionError("the value was not encrypted with this server's key (or is damaged)") from exc


def encrypted_string(key: bytes, plaintext: str) -> dict[str, str]:
    """An output holding ``plaintext`` encrypted (Kestra's EncryptedString)."""
    return {"type": ENCRYPTED_TYPE, "value": encrypt(key, plaintext)}


def is_encrypted(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") == ENCRYPTED_TYPE and isinstance(value.get("value"), str)


def contains_encrypted(value: Any) -> bool:
    if is_encrypted(value):
        return True
    return isinstance(value, Mapping) and any(contains_encrypted(v) for v in value.values())


def decrypt_values(data: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """``data`` with every encrypted value of its maps, at any depth, replaced by its clear text.

    Lists are left as they are, as Kestra does: its tasks put encrypted values in maps only.
    """
    out: dict[str, Any] = {}
    for name, value in data.items():
        if is_encrypted(value):
            out[name] = decrypt(key, value["value"])
        elif isinstance(value, Mapping):
            out[name] = decrypt_values(value, key)
        else:
            out[name] = value
    return out
