"""Internal storage in a MinIO (or any S3) bucket: the production backend's storage."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import structlog
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from kestra_stream.storage._errors import StorageError, StorageFileNotFoundError, StorageUriError
from kestra_stream.storage._uris import build_uri, parse_uri

log = structlog.get_logger(__name__)

T = TypeVar("T")

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject"})


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """``host:port`` for the minio client; a URL's scheme decides ``secure`` (https) when given."""
    if "://" not in endpoint:
        return endpoint.rstrip("/"), secure
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise StorageError(f"MinIO endpoint {endpoint!r} is not 'host:port' nor 'http(s)://host:port'; "
                           "give the server address without a path")
    return parts.netloc, parts.scheme == "https"


class MinioStorage:
    """Files as objects of one bucket, one object per URI (``kestra:///a/b/c.txt`` is the key ``a/b/c.txt``).

    The minio client is blocking, so every call runs in a thread (``asyncio.to_thread``); the client
    and its connection pool are thread-safe and bound to no event loop, so one instance serves any
    loop. The bucket is created on first use when missing. S3 has no folders: a "folder" is a key
    prefix, so, as with ``LocalStorage``, writing a file where other files live below is refused.
    """

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool = False) -> None:
        if not bucket:
            raise StorageError("MinioStorage needs a bucket name (settings: the storage bucket)")
        host, is_secure = _split_endpoint(endpoint, secure)
        self.endpoint = host
        self.bucket = bucket
        self.secure = is_secure
        # Short connect timeout and few retries: an unreachable MinIO fails a task run quickly
        # instead of hanging it for minutes on urllib3's defaults.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10.0, read=300.0), maxsize=16,
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))
        self._client = Minio(host, access_key=access_key, secret_key=secret_key, secure=is_secure,
                             http_client=http)
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"MinioStorage({scheme}://{self.endpoint}, bucket={self.bucket!r})"

    @staticmethod
    def key_of(uri: str) -> str:
        """The object key of a file URI (decoded segments joined by ``/``)."""
        return "/".join(parse_uri(uri))

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                    log.info("storage_bucket_created", bucket=self.bucket, endpoint=self.endpoint)
                except S3Error as exc:
                    # Another process created it between the check and the call.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_ready = True

    async def _call(self, uri: str, action: Callable[[], T]) -> T:
        def run() -> T:
            try:
                self._ensure_bucket()
                return action()
            except S3Error as exc:
                if exc.code in _MISSING_CODES:
                    raise StorageFileNotFoundError(
                        f"no file in internal storage at {uri!r} (bucket {self.bucket!r})", uri=uri) from exc
                raise StorageError(f"MinIO refused an operation on {uri!r} (bucket {self.bucket!r}): "
                                   f"{exc.code}: {exc.message}", uri=uri) from exc
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise StorageError(f"MinIO at {self.endpoint} failed an operation on {uri!r}: {exc}; check "
                                   "that it runs (`kestra-stream services up minio`) and the credentials",
                                   uri=uri) from exc

        return await asyncio.to_thread(run)

    def _has_children(self, key: str) -> bool:
        for _ in self._client.list_objects(self.bucket, prefix=key + "/", recursive=True):
            return True
        return False

    def _stat_size(self, key: str) -> int:
        size = self._client.stat_object(self.bucket, key).size
        return int(size or 0)

    def _exists(self, key: str) -> bool:
        try:
            self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return False
            raise
        return True

    async def put(self, uri: str, data: bytes | Path) -> str:
        canonical = build_uri(parse_uri(uri))
        key = self.key_of(canonical)

        def upload() -> None:
            if self._has_children(key):
                raise StorageUriError(f"storage URI {canonical!r} names a folder, not a file", uri=canonical)
            if isinstance(data, Path):
                self._client.fput_object(self.bucket, key, str(data))
            else:
                self._client.put_object(self.bucket, key, io.BytesIO(data), len(data))

        await self._call(canonical, upload)
        return canonical

    async def get(self, uri: str) -> bytes:
        key = self.key_of(uri)

        def download() -> bytes:
            answer = self._client.get_object(self.bucket, key)
            try:
                return answer.read()
            finally:
                answer.close()
                answer.release_conn()

        return await self._call(uri, download)

    async def open_to(self, uri: str, path: Path) -> None:
        key = self.key_of(uri)

        def download() -> None:
            self._stat_size(key)  # a missing file fails before any local file is created
            path.parent.mkdir(parents=True, exist_ok=True)
            self._client.fget_object(self.bucket, key, str(path))

        await self._call(uri, download)

    async def exists(self, uri: str) -> bool:
        key = self.key_of(uri)
        return await self._call(uri, lambda: self._exists(key))

    async def size(self, uri: str) -> int:
        key = self.key_of(uri)
        return await self._call(uri, lambda: self._stat_size(key))

    async def delete(self, uri: str) -> bool:
        key = self.key_of(uri)

        def remove() -> bool:
            # S3 deletes are idempotent and say nothing of what was there: look first.
            if not self._exists(key):
                return False
            self._client.remove_object(self.bucket, key)
            return True

        return await self._call(uri, remove)

    async def list(self, prefix_uri: str) -> list[str]:
        segments = parse_uri(prefix_uri, prefix=True)
        prefix = "/".join(segments) + "/" if segments else ""

        def walk() -> list[str]:
            found: list[str] = []
            for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                name = item.object_name
                if name is None or item.is_dir:
                    continue
                try:
                    found.append(build_uri(name.split("/")))
                except StorageUriError:
                    # Written by something else than kestra-stream; no URI can name it.
                    log.warning("storage_object_skipped", bucket=self.bucket, key=name)
            return sorted(found)

        return await self._call(prefix_uri, walk)
