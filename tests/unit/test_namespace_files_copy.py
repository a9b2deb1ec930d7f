"""A working directory's copy of the namespace files: files land with their folders, and an empty
folder (created through the API, kept in storage as a marker file) arrives empty."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from kestra_stream.models.task import NamespaceFiles
from kestra_stream.storage import FOLDER_MARKER, LocalStorage, child_uri, namespace_files_uri
from kestra_stream.worker._shared import _copy_namespace_files


async def test_files_are_copied_and_an_empty_folder_arrives_without_its_marker(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    root = namespace_files_uri("company.team")
    await storage.put(child_uri(root, "scripts", "main.py"), b"print('hi')\n")
    await storage.put(child_uri(root, "empty", FOLDER_MARKER), b"")
    workdir = tmp_path / "work"
    workdir.mkdir()
    ctx = cast(Any, SimpleNamespace(namespace="company.team", storage=storage))

    await _copy_namespace_files(ctx, workdir, NamespaceFiles())

    assert (workdir / "scripts" / "main.py").read_bytes() == b"print('hi')\n"
    assert (workdir / "empty").is_dir() and list((workdir / "empty").iterdir()) == []
