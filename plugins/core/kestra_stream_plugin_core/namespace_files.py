"""``namespace.UploadFiles``, ``DownloadFiles`` and ``DeleteFiles``: a namespace's files from a task.

A namespace file's path is written as Kestra writes it, ``/folder/name.ext``; a glob of ``files``
is matched against that path without its leading slash (``**/*.sql``, ``scripts/*.py``). Any
namespace is reachable, as in Kestra's open-source edition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field

from kestra_stream.errors import TaskFailure
from kestra_stream.models.plugin import PluginInfo, PluginModel
from kestra_stream.models.task import LogLevel, RunContext, RunnableTask
from kestra_stream.storage import Storage, StorageError, child_uri, namespace_files_uri
from kestra_stream.worker import task_file_uri
from kestra_stream.worker.files import glob_to_regex, match_output_files


@runtime_checkable
class _HasNamespaceFiles(Protocol):
    def namespace_files(self, namespace: str | None = None) -> Storage: ...


class Conflict(StrEnum):
    OVERWRITE = "OVERWRITE"
    ERROR = "ERROR"
    SKIP = "SKIP"


def _info(name: str, title: str, body: str) -> PluginInfo:
    return PluginInfo(type=f"io.kestra.plugin.core.namespace.{name}", short=f"namespace.{name}", title=title,
                      examples=(f"id: ns_{name.lower()}\nnamespace: company.team\ntasks:\n  - id: files\n"
                                f"    type: io.kestra.plugin.core.namespace.{name}\n{body}",))


class _NamespaceFilesTask(RunnableTask):
    def _storage(self, ctx: RunContext, namespace: str) -> tuple[Storage, str]:
        if not isinstance(ctx, _HasNamespaceFiles):
            raise TaskFailure(f"{self.type} needs a worker's run context, which reaches namespace files",
                              task_id=self.id)
        return ctx.namespace_files(namespace), namespace_files_uri(namespace)

    @staticmethod
    def _path_uri(base: str, path: str) -> str:
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise TaskFailure(f"{path!r} is not a namespace file path")
        try:
            return child_uri(base, *parts)
        except StorageError as exc:
            raise TaskFailure(f"{path!r} is not a namespace file path: {exc}") from exc


class _Matching(_NamespaceFilesTask):
    namespace: str = Field(description="The namespace whose files to use; rendered.")
    files: str | list[str] = Field(description="A glob or a path, or a list of them, matched against the "
                                   "namespace files' paths; rendered.")

    async def _matched(self, ctx: RunContext) -> tuple[Storage, dict[str, str]]:
        namespace = ctx.render_string(self.namespace).strip()
        storage, base = self._storage(ctx, namespace)
        rendered = ctx.render(self.files)
        patterns = [rendered] if isinstance(rendered, str) else rendered
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise TaskFailure(f"files must be a string or a list of strings, got {json.dumps(rendered)[:100]}",
                              task_id=self.id)
        regexes = [glob_to_regex(p.lstrip("/")) for p in patterns]
        matched: dict[str, str] = {}
        for uri in await storage.list(base):
            relative = uri[len(base):].lstrip("/")
            if any(r.match(relative) for r in regexes):
                matched["/" + relative] = uri
        return storage, matched


class DownloadFiles(_Matching):
    """Copy namespace files into this execution's internal storage; ``files`` maps each path to its URI."""

    plugin: ClassVar[PluginInfo] = _info("DownloadFiles", "Download namespace files into the execution's storage.",
                                         "    namespace: company.team\n    files:\n      - \"**/*.sql\"\n")

    destination: str = Field(default="", description="A folder the paths are put under; rendered.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        storage, matched = await self._matched(ctx)
        destination = ctx.render_string(self.destination).strip("/")
        out: dict[str, str] = {}
        for path, uri in matched.items():
            target = f"{destination}{path}" if destination else path.lstrip("/")
            name = target.replace("/", "_")
            out[path] = await ctx.storage.put(task_file_uri(ctx, name), await storage.get(uri))
        return {"files": out}


class DeleteFiles(_Matching):
    """Delete the namespace files matching ``files``."""

    plugin: ClassVar[PluginInfo] = _info("DeleteFiles", "Delete namespace files.",
                                         "    namespace: company.team\n    files:\n      - \"**/*.tmp\"\n")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        storage, matched = await self._matched(ctx)
        for path, uri in matched.items():
            if await storage.delete(uri):
                ctx.log(LogLevel.DEBUG, f"Deleted {path}")
        return None


class UploadFiles(_NamespaceFilesTask):
    """Upload files of the working directory (``files``) or of internal storage (``filesMap``) as namespace files."""

    plugin: ClassVar[PluginInfo] = _info(
        "UploadFiles", "Upload files as namespace files.",
        "    namespace: company.team\n    filesMap:\n      /data/report.csv: \"{{ outputs.extract.uri }}\"\n")

    namespace: str | None = Field(default=None, description="The namespace to upload to (the flow's by default); "
                                  "rendered.")
    files: list[str] | None = Field(default=None, description="Globs of files of the task's working directory "
                                    "(of a WorkingDirectory); rendered.")
    files_map: dict[str, Any] | str | None = Field(default=None, description="Namespace path to a kestra:// URI "
                                                   "(or that map as JSON text); rendered.")
    destination: str = Field(default="/", description="The folder the files are put under; rendered.")
    conflict: Conflict = Field(default=Conflict.OVERWRITE, description="When a file exists already: OVERWRITE, "
                               "ERROR or SKIP.")

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        if self.files is None and self.files_map is None:
            raise TaskFailure("files or filesMap is required", task_id=self.id)
        namespace = (str(ctx.variables["flow"]["namespace"]) if self.namespace is None
                     else ctx.render_string(self.namespace).strip())
        storage, base = self._storage(ctx, namespace)
        destination = "/" + ctx.render_string(self.destination).strip("/")
        if self.files is not None:
            patterns = [str(p) for p in ctx.render(self.files)]
            workdir = ctx.working_directory()
            for path in match_output_files(workdir, patterns):
                await self._put(storage, base, f"{destination}/{path.relative_to(workdir).as_posix()}",
                                path.read_bytes())
        if self.files_map is not None:
            rendered = ctx.render(self.files_map)
            mapping = json.loads(rendered) if isinstance(rendered, str) else rendered
            if not isinstance(mapping, Mapping) or not all(isinstance(v, str) for v in mapping.values()):
                raise TaskFailure("filesMap must be a map of namespace paths to kestra:// URIs", task_id=self.id)
            for target, source in mapping.items():
                if await ctx.storage.exists(source):  # as Kestra: a source that does not exist is skipped
                    await self._put(storage, base, f"{destination}/{str(target).lstrip('/')}",
                                    await ctx.storage.get(source))
        return None

    async def _put(self, storage: Storage, base: str, path: str, data: bytes) -> None:
        uri = self._path_uri(base, path)
        if self.conflict != Conflict.OVERWRITE and await storage.exists(uri):
            if self.conflict == Conflict.ERROR:
                raise TaskFailure(f"the namespace file {path} exists already (conflict: ERROR)", task_id=self.id)
            return
        await storage.put(uri, data)


# What this module's entry points register (see the distribution's pyproject.toml).
PLUGINS: tuple[type[PluginModel], ...] = (UploadFiles, DownloadFiles, DeleteFiles)
