"""LocalStorage and ScopedStorage on a real temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kestra_stream.storage import (
    LocalStorage,
    ScopedStorage,
    Storage,
    StorageFileNotFoundError,
    StorageUriError,
    task_uri,
)

URI = task_uri("company.team", "flow", "E1", "t", "R1", "out.txt")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "root")


def test_local_storage_implements_the_storage_protocol(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)


async def test_put_then_get_round_trips_bytes_and_returns_canonical_uri(storage: LocalStorage) -> None:
    returned = await storage.put("kestra:///company/team/flow/%6Fut.txt", b"hello")
    assert returned == "kestra:///company/team/flow/out.txt"
    assert await storage.get(returned) == b"hello"
    assert (storage.root / "company" / "team" / "flow" / "out.txt").read_bytes() == b"hello"


async def test_put_from_a_local_file_and_replace(storage: LocalStorage, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 3000)
    await storage.put(URI, source)
    assert await storage.size(URI) == 3000
    await storage.put(URI, b"short")
    assert await storage.get(URI) == b"short"
    assert source.exists(), "the source file is left in place"


async def test_open_to_downloads_into_a_new_folder(storage: LocalStorage, tmp_path: Path) -> None:
    await storage.put(URI, b"data")
    target = tmp_path / "deep" / "dir" / "file"
    await storage.open_to(URI, target)
    assert target.read_bytes() == b"data"


async def test_missing_files(storage: LocalStorage, tmp_path: Path) -> None:
    assert not await storage.exists(URI)
    with pytest.raises(StorageFileNotFoundError, match="no file in internal storage"):
        await storage.get(URI)
    with pytest.raises(StorageFileNotFoundError):
        await storage.size(URI)
    with pytest.raises(StorageFileNotFoundError):
        await storage.open_to(URI, tmp_path / "x")
    assert await storage.delete(URI) is False


async def test_a_folder_is_not_a_file(storage: LocalStorage) -> None:
    await storage.put(URI, b"1")
    folder = URI.rsplit("/", 1)[0]
    assert not await storage.exists(folder)
    with pytest.raises(StorageFileNotFoundError):
        await storage.get(folder)
    with pytest.raises(StorageUriError, match="folder"):
        await storage.put(folder, b"2")


async def test_delete_removes_the_file(storage: LocalStorage) -> None:
    await storage.put(URI, b"1")
    assert await storage.delete(URI) is True
    assert not await storage.exists(URI)


async def test_list_is_recursive_sorted_and_canonical(storage: LocalStorage) -> None:
    await storage.put("kestra:///ns/f/b.txt", b"")
    await storage.put("kestra:///ns/f/a/c d.txt", b"")
    await storage.put("kestra:///ns/g/other.txt", b"")
    assert await storage.list("kestra:///ns/f/") == ["kestra:///ns/f/a/c%20d.txt", "kestra:///ns/f/b.txt"]
    assert await storage.list("kestra:///ns/missing") == []
    assert len(await storage.list("kestra:///")) == 3


async def test_traversal_is_refused_before_touching_the_disk(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(StorageUriError):
        await storage.put("kestra:///../outside.txt", b"x")
    with pytest.raises(StorageUriError):
        await storage.get("kestra:///%2e%2e/%2e%2e/etc/passwd")
    assert not (tmp_path / "outside.txt").exists()


async def test_symlink_out_of_the_root_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    os.symlink(outside, storage.root / "link")
    with pytest.raises(StorageUriError, match="symbolic link"):
        await storage.get("kestra:///link/secret")
    with pytest.raises(StorageUriError):
        await storage.put("kestra:///link/new", b"x")
    assert not (outside / "new").exists()
    assert await storage.list("kestra:///") == []


async def test_symlinked_file_inside_the_root_is_followed(storage: LocalStorage) -> None:
    await storage.put("kestra:///a/real", b"r")
    os.symlink(storage.root / "a" / "real", storage.root / "a" / "alias")
    assert await storage.get("kestra:///a/alias") == b"r"


async def test_scoped_storage_refuses_uris_of_another_flow(storage: LocalStorage) -> None:
    scoped = ScopedStorage.for_flow(storage, "company.team", "flow")
    await scoped.put(URI, b"mine")
    assert await scoped.get(URI) == b"mine"
    assert await scoped.list("kestra:///company/team/flow") == [URI]
    await scoped.put("kestra:///company/team/_files/x.sql", b"")
    other = task_uri("company.team", "other", "E1", "t", "R1", "out.txt")
    await storage.put(other, b"theirs")
    for call in (scoped.get(other), scoped.exists(other), scoped.size(other), scoped.delete(other),
                 scoped.put(other, b"x"), scoped.list("kestra:///company")):
        with pytest.raises(StorageUriError, match="outside this scope"):
            await call
    assert await storage.get(other) == b"theirs"


def test_scoped_storage_needs_a_prefix(storage: LocalStorage) -> None:
    with pytest.raises(ValueError, match="at least one prefix"):
        ScopedStorage(storage, [])
