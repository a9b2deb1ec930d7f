"""A storage view that only reaches below some prefixes: what a task run is given."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kestra_stream.storage._errors import StorageUriError
from kestra_stream.storage._protocol import Storage
from kestra_stream.storage._uris import flow_uri, is_within, namespace_files_uri, parse_uri, states_uri


class ScopedStorage:
    """Delegates to ``inner`` every operation on a URI below one of ``prefixes``; refuses the others."""

    def __init__(self, inner: Storage, prefixes: Sequence[str]) -> None:
        if not prefixes:
            raise ValueError("ScopedStorage needs at least one prefix URI")
        for prefix in prefixes:
            parse_uri(prefix, prefix=True)
        self.inner = inner
        self.prefixes = tuple(prefixes)

    @classmethod
    def for_flow(cls, inner: Storage, namespace: str, flow_id: str, also: Sequence[str] = ()) -> ScopedStorage:
        """What a task of a flow may reach: its flow's files, its namespace's files, shared states, and ``also``."""
        return cls(inner, [flow_uri(namespace, flow_id), namespace_files_uri(namespace), states_uri(namespace),
                           *also])

    def _check(self, uri: str) -> str:
        if not any(is_within(uri, prefix) for prefix in self.prefixes):
            allowed = ", ".join(self.prefixes)
            raise StorageUriError(
                f"storage URI {uri!r} is outside this scope ({allowed}); a task can only reach the "
                "files of its own flow and namespace", uri=uri)
        return uri

    async def put(self, uri: str, data: bytes | Path) -> str:
        return await self.inner.put(self._check(uri), data)

    async def get(self, uri: str) -> bytes:
        return await self.inner.get(self._check(uri))

    async def open_to(self, uri: str, path: Path) -> None:
        await self.inner.open_to(self._check(uri), path)

    async def exists(self, uri: str) -> bool:
        return await self.inner.exists(self._check(uri))

    async def size(self, uri: str) -> int:
        return await self.inner.size(self._check(uri))

    async def delete(self, uri: str) -> bool:
        return await self.inner.delete(self._check(uri))

    async def list(self, prefix_uri: str) -> list[str]:
        return await self.inner.list(self._check(prefix_uri))
