"""Internal storage in a local directory: the embedded backend's default."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from kestra_stream.storage._errors import StorageFileNotFoundError, StorageUriError
from kestra_stream.storage._uris import build_uri, parse_uri


class LocalStorage:
    """Files under ``root``, one file per URI (``kestra:///a/b/c.txt`` is ``root/a/b/c.txt``).

    Blocking file I/O runs in a thread (``asyncio.to_thread``). Writes go to a temporary file
    first and are renamed into place, so a reader never sees half a file.
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(root))

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path_of(self, uri: str, *, prefix: bool = False) -> Path:
        """The local path of ``uri``; refused when it resolves outside the root (through a symlink)."""
        candidate = self.root.joinpath(*parse_uri(uri, prefix=prefix))
        resolved = Path(os.path.realpath(candidate))
        if not resolved.is_relative_to(self.root):
            raise StorageUriError(
                f"storage URI {uri!r} resolves to {str(resolved)!r}, outside the storage root "
                f"{str(self.root)!r} (through a symbolic link); remove the link", uri=uri)
        return candidate

    async def put(self, uri: str, data: bytes | Path) -> str:
        canonical = build_uri(parse_uri(uri))
        target = self.path_of(canonical)
        await asyncio.to_thread(self._write, target, data, canonical)
        return canonical

    def _write(self, target: Path, data: bytes | Path, uri: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A symlinked folder may have been created between the check and the write.
        if not Path(os.path.realpath(target.parent)).is_relative_to(self.root):
            raise StorageUriError(f"storage URI {uri!r} resolves outside the storage root", uri=uri)
        if target.is_dir():
            raise StorageUriError(f"storage URI {uri!r} names a folder, not a file", uri=uri)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, Path):
                    with data.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                else:
                    out.write(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _existing_file(self, uri: str) -> Path:
        path = self.path_of(uri)
        if not path.is_file():
            raise StorageFileNotFoundError(
                f"no file in internal storage at {uri!r} (looked in {str(path)!r})", uri=uri)
        return path

    async def get(self, uri: str) -> bytes:
        def read() -> bytes:
            return self._existing_file(uri).read_bytes()

        return await asyncio.to_thread(read)

    async def open_to(self, uri: str, path: Path) -> None:
        def copy() -> None:
            source = self._existing_file(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)

        await asyncio.to_thread(copy)

    async def exists(self, uri: str) -> bool:
        path = self.path_of(uri)
        return await asyncio.to_thread(path.is_file)

    async def size(self, uri: str) -> int:
        def stat() -> int:
            return self._existing_file(uri).stat().st_size

        return await asyncio.to_thread(stat)

    async def delete(self, uri: str) -> bool:
        path = self.path_of(uri)

        def remove() -> bool:
            if not path.is_file():
                return False
            path.unlink()
            return True

        return await asyncio.to_thread(remove)

    async def list(self, prefix_uri: str) -> list[str]:
        base_segments = parse_uri(prefix_uri, prefix=True)
        base = self.path_of(prefix_uri, prefix=True)

        def walk() -> list[str]:
            found: list[str] = []
            if not base.is_dir():
                return found
            for folder, dirs, files in os.walk(base, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".put-")]
                rel = Path(folder).relative_to(base).parts
                for name in files:
                    full = Path(folder, name)
                    if name.startswith(".put-") or not Path(os.path.realpath(full)).is_relative_to(self.root):
                        continue
                    found.append(build_uri([*base_segments, *rel, name]))
            return sorted(found)

        return await asyncio.to_thread(walk)
