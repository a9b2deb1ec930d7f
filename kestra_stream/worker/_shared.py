"""A WorkingDirectory's directory, carried from one child's attempt to the next through internal storage.

Kestra runs a WorkingDirectory's children on one worker in one directory. Here each child is a job
of its own, possibly on another worker: after its attempt the directory is archived in the owner's
task-run folder of internal storage, and the next child's attempt starts from that archive. The
first child finds no archive and seeds the directory with the owner's namespace files and input files.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

from kestra_stream.errors import TaskFailure
from kestra_stream.executor.commands import RunTask
from kestra_stream.models.task import NamespaceFiles, SharedDirectory
from kestra_stream.storage import FOLDER_MARKER, namespace_files_uri, task_uri
from kestra_stream.worker._context import TaskRunContext
from kestra_stream.worker.files import glob_to_regex, safe_join, upload_output_files, write_input_files

ARCHIVE = "working-directory.tar.gz"


def _archive_uri(job: RunTask, directory: SharedDirectory) -> str:
    return task_uri(job.namespace, job.flow_id, job.execution_id, directory.owner_task_id,
                    directory.owner_taskrun_id, ARCHIVE)


def _pack(workdir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(workdir.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.add(path, arcname=path.relative_to(workdir).as_posix(), recursive=False)
    return buffer.getvalue()


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
    return outputs
