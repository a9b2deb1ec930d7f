"""Namespace files (Kestra's NamespaceFileController), kept in internal storage below ``<namespace>/_files``.

    GET    /namespaces/{namespace}/files?path=            a file's content
    GET    /namespaces/{namespace}/files/directory?path=  a folder's entries (the root by default)
    GET    /namespaces/{namespace}/files/stats?path=      one entry's attributes
    GET    /namespaces/{namespace}/files/search?q=        the paths containing ``q``
    POST   /namespaces/{namespace}/files?path=            multipart upload of ``fileContent``; a ``.zip``
                                                          upload is unpacked below the root, as in Kestra
    PUT    /namespaces/{namespace}/files?from=&to=        move a file or a folder
    DELETE /namespaces/{namespace}/files?path=            a file, or a folder with everything below it
    POST   /namespaces/{namespace}/files/directory?path=  an empty folder (nothing changes if it exists)

Paths are ``/``-separated below the namespace root (a leading ``/`` is optional). Internal storage
has files only: a folder exists while a file lies below it, and an empty folder holds a marker file
(``FOLDER_MARKER``) that no listing shows and no path may name. ``_flows`` is refused, as Kestra
does: flows go through the flows API.
"""

from __future__ import annotations

import io
import re
import zipfile
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._http import json_response, query, read_form, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.models.flow import NAMESPACE_PATTERN
from kestra_stream.storage import (
    FOLDER_MARKER,
    Storage,
    StorageUriError,
    child_uri,
    namespace_files_uri,
    parse_uri,
)

__all__ = ["FileAttributes", "FileType", "checked_namespace", "routes"]

routes = ApiRoutes("Files")

_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_FLOWS_FOLDER = "_flows"
_UPLOAD_FIELD = "fileContent"
_OUT = ConfigDict(frozen=True, alias_generator=to_camel, serialize_by_alias=True, validate_by_name=True)
_QUERY = ConfigDict(frozen=True, extra="forbid")


def checked_namespace(request: web.Request) -> str:
    """The ``{namespace}`` of the path, refused with a 400 unless it is a valid namespace."""
    namespace = request.match_info["namespace"]
    if len(namespace) > 150 or not _NAMESPACE.match(namespace) or ".." in namespace or namespace.endswith("."):
        raise ApiError(400, f"invalid namespace {namespace!r}: a namespace is lower-case letters, digits, "
                            "dashes and underscores in dot-separated parts, such as 'company.team'")
    return namespace


class FileType(StrEnum):
    FILE = "File"
    DIRECTORY = "Directory"


class FileAttributes(BaseModel):
    """An entry of a folder (Kestra's ``FileAttributes``; storage keeps no dates, so none are given)."""

    model_config = _OUT

    file_name: str
    type: FileType
    size: int


class PathQuery(BaseModel):
    model_config = _QUERY

    path: str = Field(description="The file's path below the namespace root, such as /scripts/main.py")


class OptionalPathQuery(BaseModel):
    model_config = _QUERY

    path: str | None = Field(default=None, description="A folder below the namespace root; the root by default")


class SearchQuery(BaseModel):
    model_config = _QUERY

    q: str = Field(description="Text the file's path must contain")


class MoveQuery(BaseModel):
    model_config = _QUERY

    from_: str = Field(alias="from", description="The file or folder to move")
    to: str = Field(description="Where it goes")


class _Files:
    """The namespace files of one namespace, addressed by their paths."""

    def __init__(self, storage: Storage, namespace: str) -> None:
        self.storage = storage
        self.namespace = namespace
        self.root = namespace_files_uri(namespace)

    def segments(self, path: str | None) -> tuple[str, ...]:
        """``path`` as checked segments below the root; the root itself is ``()``."""
        text = (path or "").strip("/")
        if not text:
            return ()
        try:
            segments = parse_uri(child_uri(self.root, *text.split("/")), prefix=True)[len(parse_uri(self.root)):]
        except StorageUriError:
            raise ApiError(400, f"invalid namespace file path {path!r}: use '/'-separated names without empty, "
                                "'.' or '..' parts, such as /scripts/main.py") from None
        if segments[-1] == FOLDER_MARKER:
            raise ApiError(400, f"invalid namespace file path {path!r}: '{FOLDER_MARKER}' is the name that marks "
                                "an empty folder; choose another name")
        if segments[0] == _FLOWS_FOLDER:
            raise ApiError(422, f"the path {path!r} is in the reserved '{_FLOWS_FOLDER}' folder: "
                                "create and update flows with the flows API")
        return segments

    def uri(self, segments: tuple[str, ...]) -> str:
        return child_uri(self.root, *segments)

    async def below(self, segments: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Every file below the folder ``segments``, as segments relative to the namespace root."""
        root_depth = len(parse_uri(self.root))
        return [parse_uri(uri)[root_depth:] for uri in await self.storage.list(self.uri(segments))]

    async def is_file(self, segments: tuple[str, ...]) -> bool:
        return bool(segments) and await self.storage.exists(self.uri(segments))

    async def put(self, segments: tuple[str, ...], data: bytes) -> None:
        if not segments:
            raise ApiError(400, "a file needs a path below the namespace root, such as /scripts/main.py")
        for depth in range(1, len(segments)):
            if await self.is_file(segments[:depth]):
                raise ApiError(409, f"cannot create /{'/'.join(segments)}: /{'/'.join(segments[:depth])} is a "
                                    "file, not a folder; delete or move it first")
        if await self.below(segments):
            raise ApiError(409, f"cannot create /{'/'.join(segments)}: it is a folder; delete or move it first")
        await self.storage.put(self.uri(segments), data)


def _files(request: web.Request) -> _Files:
    return _Files(services(request).storage, checked_namespace(request))


def _shown(segments: tuple[str, ...]) -> str:
    return "/" + "/".join(segments)


async def _attributes(files: _Files, segments: tuple[str, ...]) -> FileAttributes:
    name = segments[-1] if segments else ""
    if await files.is_file(segments):
        return FileAttributes(file_name=name, type=FileType.FILE, size=await files.storage.size(files.uri(segments)))
    if not segments or await files.below(segments):
        return FileAttributes(file_name=name, type=FileType.DIRECTORY, size=0)
    raise ApiError(404, f"no file or folder {_shown(segments)} in the namespace files of '{files.namespace}'")


@routes.route("GET", "/namespaces/{namespace}/files", summary="Get a namespace file's content", query=PathQuery,
              response_content="application/octet-stream")
async def get_namespace_file(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    segments = files.segments(query(request, PathQuery).path)
    if not await files.is_file(segments):
        raise ApiError(404, f"no file {_shown(segments)} in the namespace files of '{files.namespace}'")
    content = await files.storage.get(files.uri(segments))
    return web.Response(body=content, content_type="application/octet-stream")


@routes.route("GET", "/namespaces/{namespace}/files/directory", summary="List a folder of namespace files",
              query=OptionalPathQuery, response=list[FileAttributes])
async def list_namespace_directory(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    segments = files.segments(query(request, OptionalPathQuery).path)
    if await files.is_file(segments):
        raise ApiError(422, f"{_shown(segments)} is a file, not a folder: read it with GET .../files?path=")
    below = await files.below(segments)
    if segments and not below:
        raise ApiError(404, f"no folder {_shown(segments)} in the namespace files of '{files.namespace}'")
    entries: dict[str, FileAttributes] = {}
    for path in below:
        name = path[len(segments)]
        if name == FOLDER_MARKER:
            continue
        if len(path) > len(segments) + 1:
            entries.setdefault(name, FileAttributes(file_name=name, type=FileType.DIRECTORY, size=0))
        else:
            entries[name] = FileAttributes(file_name=name, type=FileType.FILE,
                                           size=await files.storage.size(files.uri(path)))
    return json_response([entries[name] for name in sorted(entries)])


@routes.route("GET", "/namespaces/{namespace}/files/stats", summary="Get the attributes of a file or folder",
              query=OptionalPathQuery, response=FileAttributes)
async def namespace_file_stats(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    return json_response(await _attributes(files, files.segments(query(request, OptionalPathQuery).path)))


@routes.route("GET", "/namespaces/{namespace}/files/search", summary="Find namespace files by their path",
              query=SearchQuery, response=list[str])
async def search_namespace_files(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    needle = query(request, SearchQuery).q
    paths = [_shown(path) for path in await files.below(()) if path[-1] != FOLDER_MARKER]
    return json_response([path for path in paths if needle in path])


@routes.route("POST", "/namespaces/{namespace}/files/directory", summary="Create a folder of namespace files "
              "(nothing changes if it exists)", query=PathQuery, errors=(409,))
async def create_namespace_directory(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    segments = files.segments(query(request, PathQuery).path)
    if not segments:
        raise ApiError(400, "the namespace root always exists: give a folder below it, such as /scripts")
    if await files.is_file(segments):
        raise ApiError(409, f"cannot create the folder {_shown(segments)}: it is a file; delete or move it first")
    if not await files.below(segments):
        await files.put((*segments, FOLDER_MARKER), b"")
    return web.Response(status=200)


def _zip_entries(data: bytes, limit: int) -> list[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not info.is_dir()]
        # Checked before anything is inflated: a small archive must not expand past the body limit.
        if sum(info.file_size for info in infos) > limit:
            raise ApiError(413, f"the archive expands to more than {limit} bytes, the server's body limit")
        return [(info.filename, archive.read(info)) for info in infos]
    # NotImplementedError is zipfile's answer to a compression method it does not support.
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise ApiError(400, f"the uploaded .zip file cannot be read: {exc}") from None


async def _upload(request: web.Request) -> tuple[str, bytes]:
    """The file name and content of the ``fileContent`` part, read within the body time limit."""
    if request.content_type != "multipart/form-data":
        raise ApiError(400, f"expected a multipart/form-data body with a '{_UPLOAD_FIELD}' file, "
                            f"got {request.content_type or 'no content type'}")
    form = await read_form(request)
    part: Any = form.get(_UPLOAD_FIELD)
    if part is None:
        raise ApiError(400, f"the multipart body has no '{_UPLOAD_FIELD}' part; send the file under that name")
    if isinstance(part, web.FileField):
        return part.filename or "", part.file.read()
    return "", part.encode() if isinstance(part, str) else bytes(part)


@routes.route("POST", "/namespaces/{namespace}/files", summary="Upload a namespace file (a .zip is unpacked)",
              query=PathQuery, body_content="multipart/form-data",
              body_schema={"type": "object", "required": [_UPLOAD_FIELD],
                           "properties": {_UPLOAD_FIELD: {"type": "string", "format": "binary"}}},
              errors=(409,))
async def upload_namespace_file(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    segments = files.segments(query(request, PathQuery).path)
    name, content = await _upload(request)
    if name.lower().endswith(".zip"):
        unpacked = [(files.segments(entry), data)
                    for entry, data in _zip_entries(content, services(request).settings.max_body_bytes)]
        for entry_segments, data in unpacked:
            await files.put(entry_segments, data)
    else:
        await files.put(segments, content)
    return web.Response(status=200)


@routes.route("PUT", "/namespaces/{namespace}/files", summary="Move a namespace file or folder", query=MoveQuery,
              errors=(409,))
async def move_namespace_file(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    moved = query(request, MoveQuery)
    source, target = files.segments(moved.from_), files.segments(moved.to)
    if not source or not target:
        raise ApiError(400, "moving needs a source and a target below the namespace root")
    if target[: len(source)] == source:
        raise ApiError(409, f"cannot move {_shown(source)} into itself ({_shown(target)})")
    if await files.is_file(source):
        pairs = [(source, target)]
    else:
        pairs = [(path, target + path[len(source):]) for path in await files.below(source)]
        if not pairs:
            raise ApiError(404, f"no file or folder {_shown(source)} in the namespace files of '{files.namespace}'")
    for old, new in pairs:
        await files.put(new, await files.storage.get(files.uri(old)))
        await files.storage.delete(files.uri(old))
    return web.Response(status=200)


@routes.route("DELETE", "/namespaces/{namespace}/files", summary="Delete a namespace file or folder",
              query=PathQuery)
async def delete_namespace_file(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    segments = files.segments(query(request, PathQuery).path)
    if await files.is_file(segments):
        await files.storage.delete(files.uri(segments))
        return web.Response(status=200)
    below = await files.below(segments)
    if not below and segments:
        raise ApiError(404, f"no file or folder {_shown(segments)} in the namespace files of '{files.namespace}'")
    for path in below:
        await files.storage.delete(files.uri(path))
    return web.Response(status=200)
