"""A namespace's key-value store, kept in internal storage as Kestra's open-source edition does.

Each key is one JSON file below the namespace's ``_kv`` folder holding the value, its type and its
expiry, so any ``Storage`` (a local directory, MinIO) holds a KV store with nothing else to run.
An entry past its expiry reads as missing and is removed by the read that finds it.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kestra_stream.kv._values import KVType, coerce, from_stored, to_stored
from kestra_stream.storage import Storage, StorageError, StorageFileNotFoundError, child_uri, kv_uri

# Kestra's KVStore.KEY_VALIDATOR_PATTERN.
_KEY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
_SUFFIX = ".json"


class KVStoreError(StorageError):
    """A KV operation was refused: a bad key, a value that does not fit its type, an existing key."""

    def __init__(self, message: str, *, namespace: str, key: str | None = None, uri: str | None = None) -> None:
        self.namespace = namespace
        self.key = key
        super().__init__(message, uri=uri)


@dataclass(frozen=True)
class KVEntry:
    """One key of a namespace with its typed value."""

    key: str
    type: KVType
    value: Any
    expiration_date: datetime | None
    update_date: datetime
    description: str | None = None


def check_key(key: str, namespace: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise KVStoreError(
            f"invalid KV key {key!r} in namespace '{namespace}': a key starts with a letter or digit and "
            "holds only letters, digits, dots, underscores and dashes", namespace=namespace, key=str(key))
    return key


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KVStore:
    """The KV entries of ``namespace`` in ``storage``; ``now`` is the clock TTLs are measured on."""

    def __init__(self, storage: Storage, namespace: str, *, now: Callable[[], datetime] = _utc_now) -> None:
        self.storage = storage
        self.namespace = namespace
        self.folder = kv_uri(namespace)
        self._now = now

    def __repr__(self) -> str:
        return f"KVStore({self.namespace!r}, {self.storage!r})"

    def uri_of(self, key: str) -> str:
        return child_uri(self.folder, check_key(key, self.namespace) + _SUFFIX)

    async def set(self, key: str, value: Any, *, kv_type: KVType | None = None, ttl: timedelta | None = None,
                  overwrite: bool = True, description: str | None = None) -> KVEntry:
        """Store ``value`` under ``key`` (typed as ``kv_type``, or by its own type), expiring after ``ttl``."""
        uri = self.uri_of(key)
        try:
            typed, converted = coerce(value, kv_type)
        except ValueError as exc:
            raise KVStoreError(f"cannot set KV key '{key}' in namespace '{self.namespace}': {exc}",
                               namespace=self.namespace, key=key, uri=uri) from exc
        if ttl is not None and ttl <= timedelta(0):
            raise KVStoreError(f"cannot set KV key '{key}': the TTL must be positive, got {ttl}",
                               namespace=self.namespace, key=key, uri=uri)
        if not overwrite and await self.get(key) is not None:
            raise KVStoreError(
                f"cannot set KV key '{key}' in namespace '{self.namespace}': it already exists and overwrite "
                "is false; delete it first or set overwrite: true", namespace=self.namespace, key=key, uri=uri)
        now = self._now()
        entry = KVEntry(key=key, type=typed, value=converted,
                        expiration_date=now + ttl if ttl is not None else None, update_date=now,
                        description=description)
        document = {
            "key": key, "type": typed.value, "value": to_stored(typed, converted),
            "expirationDate": entry.expiration_date.isoformat() if entry.expiration_date else None,
            "updateDate": now.isoformat(), "description": description,
        }
        try:
            payload = json.dumps(document, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise KVStoreError(f"cannot set KV key '{key}': its value is not JSON ({exc})",
                               namespace=self.namespace, key=key, uri=uri) from exc
        await self.storage.put(uri, payload)
        return entry

    async def get(self, key: str) -> KVEntry | None:
        """The entry of ``key``; ``None`` when it is missing or expired."""
        return await self._read(self.uri_of(key), key)

    async def value(self, key: str, *, error_on_missing: bool = False) -> Any:
        """The value of ``key``; ``None`` (or ``KVStoreError`` with ``error_on_missing``) when missing."""
        entry = await self.get(key)
        if entry is None:
            if error_on_missing:
                raise KVStoreError(f"the key '{key}' does not exist in the namespace '{self.namespace}' "
                                   "(or it expired)", namespace=self.namespace, key=key)
            return None
        return entry.value

    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``False`` when there was no live entry."""
        uri = self.uri_of(key)
        live = await self._read(uri, key) is not None
        return await self.storage.delete(uri) and live

    async def list(self, prefix: str | None = None) -> list[KVEntry]:
        """Every live entry, sorted by key, optionally only keys starting with ``prefix``."""
        entries: list[KVEntry] = []
        for uri in await self.storage.list(self.folder):
            name = uri.rsplit("/", 1)[-1]
            if "/" in uri[len(self.folder) + 1:] or not name.endswith(_SUFFIX):
                continue
            key = name[: -len(_SUFFIX)]
            if prefix and not key.startswith(prefix):
                continue
            entry = await self._read(uri, key)
            if entry is not None:
                entries.append(entry)
        return sorted(entries, key=lambda e: e.key)

    async def keys(self, prefix: str | None = None) -> builtins.list[str]:
        return [entry.key for entry in await self.list(prefix)]

    async def _read(self, uri: str, key: str) -> KVEntry | None:
        try:
            raw = await self.storage.get(uri)
        except StorageFileNotFoundError:
            return None
        entry = self._decode(raw, uri, key)
        if entry.expiration_date is not None and self._now() >= entry.expiration_date:
            await self.storage.delete(uri)
            return None
        return entry

    def _decode(self, raw: bytes, uri: str, key: str) -> KVEntry:
        try:
            document = json.loads(raw)
            typed = KVType(document["type"])
            expiry = document.get("expirationDate")
            return KVEntry(key=key, type=typed, value=from_stored(typed, document["value"]),
                           expiration_date=datetime.fromisoformat(expiry) if expiry else None,
                           update_date=datetime.fromisoformat(document["updateDate"]),
                           description=document.get("description"))
        except (ValueError, KeyError, TypeError) as exc:
            raise KVStoreError(f"the KV entry '{key}' of namespace '{self.namespace}' at {uri} is corrupt "
                               f"({type(exc).__name__}: {exc}); set the key again or delete it",
                               namespace=self.namespace, key=key, uri=uri) from exc
