"""``storage.*``: tasks on files of internal storage (size, delete, concatenate, reverse, split, purge)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import RunContext, RunnableTask
from kestra_stream.storage import StorageError, StorageFileNotFoundError, execution_uri
from kestra_stream.worker import task_file_uri

_DATA_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def _info(name: str, title: str, body: str) -> PluginInfo:
    return PluginInfo(type=f"io.kestra.plugin.core.storage.{name}", short=f"storage.{name}",
                      aliases=(f"io.kestra.core.tasks.storages.{name}",), title=title,
                      examples=(f"id: storage_{name.lower()}\nnamespace: company.team\ntasks:\n  - id: task\n"
                                f"    type: io.kestra.plugin.core.storage.{name}\n{body}",))


def _uri(ctx: RunContext, raw: str, what: str, task_id: str) -> str:
    uri = ctx.render_string(raw).strip()
    if not uri.startswith("kestra://"):
        raise TaskFailure(f"{what} {uri!r} is not an internal storage URI (kestra://...)", task_id=task_id)
    return uri


async def _read(ctx: RunContext, uri: str, task_id: str) -> bytes:
    try:
        return await ctx.storage.get(uri)
    except StorageError as exc:
        raise TaskFailure(str(exc), task_id=task_id) from exc


def _suffix(uri: str) -> str:
    return PurePosixPath(uri).suffix


def _rows(data: bytes, separator: bytes) -> list[bytes]:
    rows = data.split(separator)
    if rows and rows[-1] == b"":
        rows.pop()  # a trailing separator ends the last row rather than starting an empty one
    return rows


def data_size(text: str) -> int | None:
    """A size such as 1024, 10KB or 10MB in bytes, or None when it is not one."""
    match = _DATA_SIZE.match(text)
    return None if match is None else int(match.group(1)) * _UNITS[(match.group(2) or "B").upper()]


def split_rows(lines: list[bytes], *, rows: int | None = None, partitions: int | None = None,
               limit: int | None = None) -> list[bytes]:
    """The non-empty files ``lines`` (each row with its separator) split into: ``rows`` rows each,
    ``partitions`` files dealt round-robin, or at most ``limit`` bytes each (a row is never cut)."""
    chunks: list[list[bytes]]
    if rows is not None:
        chunks = [lines[i:i + rows] for i in range(0, len(lines), rows)]
    elif partitions is not None:
        chunks = [lines[i::partitions] for i in range(partitions)]
    elif limit is not None:
        chunks = [[]]
        for line in lines:
            if chunks[-1] and sum(map(len, chunks[-1])) + len(line) > limit:
                chunks.append([])
            chunks[-1].append(line)
    else:
        raise ValueError("split_rows needs rows, partitions or limit")
    return [b"".join(chunk) for chunk in chunks if chunk]


class Size(RunnableTask):
    """The size in bytes of a file of internal storage (``outputs.<id>.size``)."""

    plugin: ClassVar[PluginInfo] = _info("Size", "The size of a file of internal storage.",
                                         "    uri: \"{{ inputs.file }}\"\n")

    uri: str = Field(description="The file's kestra:// URI; rendered.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = _uri(ctx, self.uri, "uri", self.id)
        try:
            return {"size": await ctx.storage.size(uri)}
        except StorageError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc


class Delete(RunnableTask):
    """Delete a file of internal storage (``outputs.<id>.deleted`` says whether there was one)."""

    plugin: ClassVar[PluginInfo] = _info("Delete", "Delete a file of internal storage.",
                                         "    uri: \"{{ outputs.download.uri }}\"\n")

    uri: str = Field(description="The file's kestra:// URI; rendered.")
    error_on_missing: bool = Field(default=False, description="Fail when there is no such file.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        uri = _uri(ctx, self.uri, "uri", self.id)
        try:
            deleted = await ctx.storage.delete(uri)
        except StorageError as exc:
            raise TaskFailure(str(exc), task_id=self.id) from exc
        if not deleted and self.error_on_missing:
            raise TaskFailure(f"Unable to find the file '{uri}'", task_id=self.id)
        return {"uri": uri, "deleted": deleted}


class Concat(RunnableTask):
    """Concatenate files of internal storage into one (``outputs.<id>.uri``)."""

    plugin: ClassVar[PluginInfo] = _info(
        "Concat", "Concatenate files of internal storage into one.",
        "    files:\n      - \"{{ outputs.first.uri }}\"\n      - \"{{ outputs.second.uri }}\"\n"
        "    separator: \"\\n\"\n")

    files: list[str] | str = Field(description="The files' URIs: a list, a JSON array as text, or an expression "
                                               "giving one.")
    separator: str | None = Field(default=None, description="Text written between two files.")
    extension: str = Field(default=".tmp", description="The extension of the file created.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        files = ctx.render(self.files)
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError as exc:
                raise TaskFailure(f"files must be a list of URIs or a JSON array, got {files[:100]!r}",
                                  task_id=self.id) from exc
        if not isinstance(files, list):
            raise TaskFailure(f"files must be a list of URIs, got {type(files).__name__}", task_id=self.id)
        separator = ctx.render_string(self.separator).encode() if self.separator is not None else b""
        parts = [await _read(ctx, _uri(ctx, str(f), "file", self.id), self.id) for f in files]
        extension = ctx.render_string(self.extension)
        uri = task_file_uri(ctx, f"concat{extension}")
        return {"uri": await ctx.storage.put(uri, separator.join(parts))}


class Reverse(RunnableTask):
    """Reverse the order of a file's rows (``outputs.<id>.uri``)."""

    plugin: ClassVar[PluginInfo] = _info("Reverse", "Reverse the order of a file's rows.",
                                         "    from: \"{{ inputs.file }}\"\n")

    from_: str = Field(alias="from", description="The file's kestra:// URI; rendered.")
    separator: str = Field(default="\n", description="What ends a row.")
    charset: str = Field(default="UTF-8", description="The file's character set.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = _uri(ctx, self.from_, "from", self.id)
        charset = ctx.render_string(self.charset)
        separator = ctx.render_string(self.separator)
        try:
            text = (await _read(ctx, source, self.id)).decode(charset)
        except (LookupError, UnicodeDecodeError) as exc:
            raise TaskFailure(f"cannot read {source} as {charset}: {exc}", task_id=self.id) from exc
        rows = _rows(text.encode(charset), separator.encode(charset))
        out = b"".join(row + separator.encode(charset) for row in reversed(rows))
        return {"uri": await ctx.storage.put(task_file_uri(ctx, f"reverse{_suffix(source)}"), out)}


class Split(RunnableTask):
    """Split a file into several by rows, by size or into partitions (``outputs.<id>.uris``)."""

    plugin: ClassVar[PluginInfo] = _info("Split", "Split a file into several by rows, size or partitions.",
                                         "    from: \"{{ inputs.file }}\"\n    rows: 100\n")

    from_: str = Field(alias="from", description="The file's kestra:// URI; rendered.")
    bytes_: str | None = Field(default=None, alias="bytes", description="At most this size per file "
                                                                        "(such as 10MB); rows are kept whole.")
    partitions: int | None = Field(default=None, ge=1, description="This many files, rows dealt round-robin.")
    rows: int | None = Field(default=None, ge=1, description="At most this many rows per file.")
    separator: str = Field(default="\n", description="What ends a row.")

    @field_validator("bytes_")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and "{{" not in value and not _DATA_SIZE.match(value):
            raise ValueError(f"bytes {value!r} is not a size such as 1024, 10KB or 10MB")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Split:
        chosen = [name for name, value in (("bytes", self.bytes_), ("partitions", self.partitions),
                                           ("rows", self.rows)) if value is not None]
        if len(chosen) != 1:
            raise ValueError(f"Split task '{self.id}' needs exactly one of bytes, partitions or rows "
                             f"(got {', '.join(chosen) or 'none'})")
        return self

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        source = _uri(ctx, self.from_, "from", self.id)
        separator = ctx.render_string(self.separator).encode()
        limit = None
        if self.bytes_ is not None:
            limit = data_size(ctx.render_string(self.bytes_))
            if limit is None:
                raise TaskFailure(f"bytes {self.bytes_!r} is not a size such as 10MB", task_id=self.id)
        lines = [row + separator for row in _rows(await _read(ctx, source, self.id), separator)]
        chunks = split_rows(lines, rows=self.rows, partitions=self.partitions, limit=limit)
        suffix = _suffix(source)
        uris = [await ctx.storage.put(task_file_uri(ctx, f"split-{index}{suffix}"), chunk)
                for index, chunk in enumerate(chunks)]
        return {"uris": uris}


class PurgeCurrentExecutionFiles(RunnableTask):
    """Delete every file of the current execution in internal storage (``outputs.<id>.uris``)."""

    plugin: ClassVar[PluginInfo] = _info("PurgeCurrentExecutionFiles",
                                         "Delete every file of the current execution.", "")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        flow = ctx.variables["flow"]
        prefix = execution_uri(str(flow["namespace"]), str(flow["id"]), ctx.execution_id)
        deleted: list[str] = []
        for uri in await ctx.storage.list(prefix):
            try:
                if await ctx.storage.delete(uri):
                    deleted.append(uri)
            except StorageFileNotFoundError:
                continue
        return {"uris": deleted}


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (Size, Delete, Concat, Reverse, Split, PurgeCurrentExecutionFiles)
