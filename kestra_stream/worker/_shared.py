"""A WorkingDirectory's directory, carried from one child's attempt to the next through internal storage.

Kestra runs a WorkingDirectory's children on one worker in one directory. Here each child is a job
of its own, possibly on another worker: after its attempt the directory is archived in the owner's
task-run folder of internal storage, and the next child's attempt starts from that archive. The
first child finds no archive and seeds the directory with the owner's namespace files and input files.

A ``cache`` outlives the execution: the files matching its patterns are archived per flow, owner task
and task-run value (``<namespace>/<flow>/cache/<task>[/<value>]``), beside a small record of when
they were written and a digest of their contents. The first child restores a cache younger than its
``ttl``; after each child the archive is written again only when those files changed, so the ttl
counts from the last change, as Kestra's counts from the cache file's last modification.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from kestra_stream.errors import TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.models.task import DirectoryCache, LogLevel, NamespaceFiles, SharedDirectory
from kestra_stream.storage import FOLDER_MARKER, child_uri, flow_uri, namespace_files_uri, slugify, task_uri
from kestra_stream.worker._context import TaskRunContext
from kestra_stream.worker.files import glob_to_regex, safe_join, upload_output_files, write_input_files

ARCHIVE = "working-directory.tar.gz"


def _archive_uri(job: RunTask, directory: SharedDirectory) -> str:
    return task_uri(job.namespace, job.flow_id, job.execution_id, directory.owner_task_id,
                    directory.owner_taskrun_id, ARCHIVE)


def _files(workdir: Path) -> list[Path]:
    return [path for path in sorted(workdir.rglob("*")) if path.is_file() and not path.is_symlink()]


def _pack(workdir: Path, files: list[Path] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in _files(workdir) if files is None else files:
            archive.add(path, arcname=path.relative_to(workdir).as_posix(), recursive=False)
    return buffer.getvalue()


def _cache_uri(job: RunTask, directory: SharedDirectory, name: str) -> str:
    value = [slugify(directory.owner_value)] if directory.owner_value else []
    return child_uri(flow_uri(job.namespace, job.flow_id), "cache", directory.owner_task_id, *value, name)


def _cached_files(workdir: Path, cache: DirectoryCache) -> tuple[list[Path], str]:
    """The files the cache keeps, and a digest of their names and contents."""
    patterns = [glob_to_regex(p.lstrip("/")) for p in cache.patterns]
    files = [path for path in _files(workdir)
             if any(r.match(path.relative_to(workdir).as_posix()) for r in patterns)]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(workdir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return files, digest.hexdigest()


async def _cache_record(ctx: TaskRunContext, job: RunTask, directory: SharedDirectory) -> dict[str, str] | None:
    uri = _cache_uri(job, directory, "cache.json")
    if not await ctx.storage.exists(uri):
        return None
    record: dict[str, str] = json.loads(await ctx.storage.get(uri))
    return record


async def _restore_cache(ctx: TaskRunContext, job: RunTask, directory: SharedDirectory, workdir: Path) -> None:
    assert directory.cache is not None
    record = await _cache_record(ctx, job, directory)
    if record is None:
        return
    age = datetime.now(UTC) - datetime.fromisoformat(record["written"])
    if directory.cache.ttl is not None and age > directory.cache.ttl:
        ctx.log(LogLevel.DEBUG, f"cache of '{directory.owner_task_id}' expired (written {record['written']})")
        return
    ctx.log(LogLevel.DEBUG, f"restoring the cache of '{directory.owner_task_id}' written {record['written']}")
    await asyncio.to_thread(_unpack, await ctx.storage.get(_cache_uri(job, directory, "cache.tar.gz")), workdir)


async def _keep_cache(ctx: TaskRunContext, job: RunTask, directory: SharedDirectory, workdir: Path) -> None:
    assert directory.cache is not None
    files, digest = await asyncio.to_thread(_cached_files, workdir, directory.cache)
    record = await _cache_record(ctx, job, directory)
    if record is not None and record.get("digest") == digest:
        return  # unchanged: the ttl keeps counting from the last change
    # The archive first, then its record: a reader that finds the record finds the archive it describes.
    await ctx.storage.put(_cache_uri(job, directory, "cache.tar.gz"), await asyncio.to_thread(_pack, workdir, files))
    written = {"written": datetime.now(UTC).isoformat(), "digest": digest}
    await ctx.storage.put(_cache_uri(job, directory, "cache.json"), json.dumps(written).encode())
    ctx.log(LogLevel.DEBUG, f"cached {len(files)} file(s) of '{directory.owner_task_id}'")


def _unpack(data: bytes, workdir: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        # The "data" filter refuses absolute paths, links out of the directory and device files.
        archive.extractall(workdir, filter="data")


async def _copy_namespace_files(ctx: TaskRunContext, workdir: Path, spec: NamespaceFiles) -> None:
    base = namespace_files_uri(ctx.namespace)
    include = [glob_to_regex(p.lstrip("/")) for p in spec.include or ()]
    exclude = [glob_to_regex(p.lstrip("/")) for p in spec.exclude or ()]
    for uri in await ctx.storage.list(base):
        relative = uri[len(base):].lstrip("/")
        if include and not any(r.match(relative) for r in include):
            continue
        if any(r.match(relative) for r in exclude):
            continue
        target = safe_join(workdir, relative, what="namespace file")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.name != FOLDER_MARKER:  # an empty folder: made above, without its marker
            await ctx.storage.open_to(uri, target)


async def enter(ctx: TaskRunContext, job: RunTask, directory: SharedDirectory) -> None:
    """Fill the attempt's working directory: the archive a previous child left, or the owner's seed."""
    workdir = ctx.working_directory()
    uri = _archive_uri(job, directory)
    if await ctx.storage.exists(uri):
        await asyncio.to_thread(_unpack, await ctx.storage.get(uri), workdir)
        return
    if directory.cache is not None:
        await _restore_cache(ctx, job, directory, workdir)
    if directory.namespace_files is not None and directory.namespace_files.enabled:
        await _copy_namespace_files(ctx, workdir, directory.namespace_files)
    if directory.input_files is not None:
        await write_input_files(ctx, workdir, directory.input_files)


async def leave(ctx: TaskRunContext, job: RunTask, directory: SharedDirectory) -> dict[str, object] | None:
    """Keep the directory for the next child; the owner's ``outputFiles`` as its outputs (or None)."""
    workdir = ctx.working_directory()
    outputs: dict[str, object] | None = None
    if directory.output_files:
        patterns = ctx.render(directory.output_files)
        if not isinstance(patterns, list):
            raise TaskFailure(f"outputFiles of WorkingDirectory '{directory.owner_task_id}' must be a list of "
                              f"globs, got {type(patterns).__name__}")
        outputs = {"outputFiles": await upload_output_files(ctx, workdir, [str(p) for p in patterns], None)}
    await ctx.storage.put(_archive_uri(job, directory), await asyncio.to_thread(_pack, workdir))
    if directory.cache is not None:
        await _keep_cache(ctx, job, directory, workdir)
    return outputs
