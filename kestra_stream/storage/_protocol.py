"""The one interface of internal storage; a local directory and S3 / MinIO implement it."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Storage(Protocol):
    """Files addressed by ``kestra:///...`` URIs.

    Every method refuses a malformed or escaping URI with ``StorageUriError``; reading a
    missing file raises ``StorageFileNotFoundError``.
    """

    async def put(self, uri: str, data: bytes | Path) -> str:
        """Store ``data`` (bytes, or the content of a local file) at ``uri``, replacing any file
        there; returns the canonical URI."""
        ...

    async def get(self, uri: str) -> bytes: ...

    async def open_to(self, uri: str, path: Path) -> None:
        """Download the file at ``uri`` into the local file ``path`` (parents created)."""
        ...

    async def exists(self, uri: str) -> bool: ...

    async def size(self, uri: str) -> int: ...

    async def delete(self, uri: str) -> bool:
        """Remove the file at ``uri``; ``False`` when there was none."""
        ...

    async def list(self, prefix_uri: str) -> list[str]:
        """Every file below the folder ``prefix_uri``, recursively, as sorted canonical URIs."""
        ...
