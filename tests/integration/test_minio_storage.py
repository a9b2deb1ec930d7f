"""One behaviour suite for every Storage: LocalStorage on a temporary directory and MinioStorage on the
real MinIO (``kestra-stream services up minio``), each test in a bucket of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from minio import Minio

from kestra_stream.storage import (
    LocalStorage,
    MinioStorage,
    ScopedStorage,
    Storage,
    StorageError,
    StorageFileNotFoundError,
    StorageUriError,
    task_uri,
)

URI = task_uri("company.team", "flow", "E1", "t", "R1", "out.txt")


def _drop_bucket(storage: MinioStorage, access_key: str, secret_key: str) -> None:
    client = Minio(storage.endpoint, access_key=access_key, secret_key=secret_key, secure=False)
    if not client.bucket_exists(storage.bucket):
        return
    for item in client.list_objects(storage.bucket, recursive=True):
        if item.object_name is not None:
            client.remove_object(storage.bucket, item.object_name)
    client.remove_bucket(storage.bucket)


@pytest.fixture(params=["local", "minio"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "root")
        return
    endpoint: str = request.getfixturevalue("minio_endpoint")
    access_key, secret_key = request.getfixturevalue("minio_credentials")
    minio = MinioStorage(endpoint, access_key, secret_key, f"ks-test-{uuid.uuid4().hex[:16]}")
    try:
        yield minio
    finally:
        _drop_bucket(minio, access_key, secret_key)


def test_storage_implements_the_storage_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)


async def test_put_then_get_round_trips_bytes_and_returns_canonical_uri(storage: Storage) -> None:
    returned = await storage.put("kestra:///company/team/flow/%6Fut.txt", b"hello")
    assert returned == "kestra:///company/team/flow/out.txt"
    assert await storage.get(returned) == b"hello"
    assert await storage.get("kestra:///company/team/flow/o%75t.txt") == b"hello"


async def test_put_from_a_local_file_and_replace(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 3000)
    await storage.put(URI, source)
    assert await storage.size(URI) == 3000
    await storage.put(URI, b"short")
    assert await storage.get(URI) == b"short"
    assert await storage.size(URI) == 5
    assert source.exists(), "the source file is left in place"


async def test_empty_and_binary_files_round_trip(storage: Storage) -> None:
    await storage.put(URI, b"")
    assert await storage.get(URI) == b""
    assert await storage.size(URI) == 0
    payload = bytes(range(256)) * 10
    await storage.put(URI, payload)
    assert await storage.get(URI) == payload


async def test_open_to_downloads_into_a_new_folder(storage: Storage, tmp_path: Path) -> None:
    await storage.put(URI, b"data")
    target = tmp_path / "deep" / "dir" / "file"
    await storage.open_to(URI, target)
    assert target.read_bytes() == b"data"


async def test_missing_files(storage: Storage, tmp_path: Path) -> None:
    assert not await storage.exists(URI)
    with pytest.raises(StorageFileNotFoundError, match="no file in internal storage"):
        await storage.get(URI)
    with pytest.raises(StorageFileNotFoundError):
        await storage.size(URI)
    with pytest.raises(StorageFileNotFoundError):
        await storage.open_to(URI, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert await storage.delete(URI) is False


async def test_a_folder_is_not_a_file(storage: Storage) -> None:
    await storage.put(URI, b"1")
    folder = URI.rsplit("/", 1)[0]
    assert not await storage.exists(folder)
    with pytest.raises(StorageFileNotFoundError):
        await storage.get(folder)
    with pytest.raises(StorageUriError, match="folder"):
        await storage.put(folder, b"2")
    assert await storage.get(URI) == b"1"


async def test_delete_removes_the_file(storage: Storage) -> None:
    await storage.put(URI, b"1")
    assert await storage.delete(URI) is True
    assert not await storage.exists(URI)
    assert await storage.delete(URI) is False


async def test_list_is_recursive_sorted_and_canonical(storage: Storage) -> None:
    await storage.put("kestra:///ns/f/b.txt", b"")
    await storage.put("kestra:///ns/f/a/c d.txt", b"")
    await storage.put("kestra:///ns/fg/other.txt", b"")
    assert await storage.list("kestra:///ns/f/") == ["kestra:///ns/f/a/c%20d.txt", "kestra:///ns/f/b.txt"]
    assert await storage.list("kestra:///ns/f") == ["kestra:///ns/f/a/c%20d.txt", "kestra:///ns/f/b.txt"]
    assert await storage.list("kestra:///ns/missing") == []
    assert len(await storage.list("kestra:///")) == 3


async def test_unusual_file_names_keep_one_uri(storage: Storage) -> None:
    uri = await storage.put("kestra:///ns/f/r%C3%A9sum%C3%A9 (1)+%25.txt", b"x")
    assert uri == "kestra:///ns/f/r%C3%A9sum%C3%A9%20(1)+%25.txt"
    assert await storage.list("kestra:///ns") == [uri]
    assert await storage.get(uri) == b"x"


async def test_traversal_is_refused(storage: Storage) -> None:
    for bad in ("kestra:///../outside.txt", "kestra:///%2e%2e/%2e%2e/etc/passwd", "kestra:///a/%2Fb",
                "kestra://host/a", "s3://bucket/a", "kestra:///a//b"):
        with pytest.raises(StorageUriError):
            await storage.put(bad, b"x")
        with pytest.raises(StorageUriError):
            await storage.get(bad)
    assert await storage.list("kestra:///") == []


async def test_scoped_storage_refuses_uris_of_another_flow(storage: Storage) -> None:
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


async def test_minio_storage_creates_its_bucket_on_first_use(
        minio_endpoint: str, minio_credentials: tuple[str, str]) -> None:
    access_key, secret_key = minio_credentials
    bucket = f"ks-test-{uuid.uuid4().hex[:16]}"
    storage = MinioStorage(minio_endpoint, access_key, secret_key, bucket)
    try:
        client = Minio(storage.endpoint, access_key=access_key, secret_key=secret_key, secure=False)
        assert not client.bucket_exists(bucket)
        assert await storage.list("kestra:///") == []
        assert client.bucket_exists(bucket)
        await storage.put(URI, b"1")
        assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == [
            "company/team/flow/executions/E1/tasks/t/R1/out.txt"]
    finally:
        _drop_bucket(storage, access_key, secret_key)


async def test_minio_storage_with_wrong_credentials_says_what_failed(minio_endpoint: str) -> None:
    storage = MinioStorage(minio_endpoint, "nobody", "wrong-secret-key", f"ks-test-{uuid.uuid4().hex[:16]}")
    with pytest.raises(StorageError, match="MinIO refused"):
        await storage.get(URI)


def test_minio_storage_refuses_an_endpoint_with_a_path() -> None:
    with pytest.raises(StorageError, match="without a path"):
        MinioStorage("http://localhost:9000/bucket", "a", "b", "c")
    assert MinioStorage("https://s3.example.com", "a", "b", "c").secure is True
    assert MinioStorage("localhost:9000", "a", "b", "c").endpoint == "localhost:9000"
