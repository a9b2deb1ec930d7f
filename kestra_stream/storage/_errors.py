"""Errors of internal storage, below the project's one exception tree."""

from __future__ import annotations

from kestra_stream.errors import KestraStreamError


class StorageError(KestraStreamError):
    """Internal storage refused or failed an operation on ``uri``."""

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        self.uri = uri
        super().__init__(message)


class StorageUriError(StorageError):
    """A ``kestra://`` URI is malformed, escapes the storage root, or lies outside the caller's scope."""


class StorageFileNotFoundError(StorageError):
    """No file is stored at ``uri``."""
