"""Files an execution produced (output files, FILE inputs, trigger files), downloadable by URI.

Kestra's paths: ``/executions/{executionId}/file``, ``/file/metas`` and ``/file/preview``. A URI
is served only when it lies in that execution's own folder of internal storage, so knowing an
execution id does not open the rest of the storage.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kestra_stream.api._errors import ApiError
from kestra_stream.api._http import json_response, query, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.errors import NotFoundError
from kestra_stream.storage import StorageUriError, execution_uri, is_within

routes = ApiRoutes("Executions")
_QUERY = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, validate_by_name=True,
                    validate_by_alias=True)


class FileQuery(BaseModel):
    model_config = _QUERY

    path: str = Field(min_length=1, description="The file's kestra:// URI, as the execution's outputs give it.")


class PreviewQuery(FileQuery):
    max_rows: int = Field(default=100, ge=1, le=10_000, description="Lines to show from the top.")
    encoding: str = "utf-8"


class FileMetas(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, serialize_by_alias=True)

    size: int


class FilePreview(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, serialize_by_alias=True)

    extension: str
    content: list[str]
    truncated: bool


def _execution_file(request: web.Request, path: str) -> str:
    """``path`` when it belongs to the execution of the URL; 404 for an unknown execution, 422 otherwise."""
    execution_id = request.match_info["executionId"]
    state = services(request).backend.state(execution_id)
    if state is None:
        raise NotFoundError(f"execution '{execution_id}' does not exist")
    ex = state.execution
    folder = execution_uri(ex.namespace, ex.flow_id, ex.id)
    try:
        inside = is_within(path, folder)
    except StorageUriError as exc:
        raise ApiError(422, f"`path` is not a storage URI: {exc}") from None
    if not inside:
        raise ApiError(422, f"`path` {path!r} is not a file of execution '{execution_id}' (its files are "
                            f"under {folder})")
    return path


@routes.route("GET", "/executions/{executionId}/file", summary="Download a file of an execution",
              query=FileQuery, response_content="application/octet-stream")
async def download_execution_file(request: web.Request) -> web.StreamResponse:
    uri = _execution_file(request, query(request, FileQuery).path)
    data = await services(request).storage.get(uri)
    name = PurePosixPath(uri).name
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


@routes.route("GET", "/executions/{executionId}/file/metas", summary="Size of a file of an execution",
              query=FileQuery, response=FileMetas)
async def execution_file_metas(request: web.Request) -> web.StreamResponse:
    uri = _execution_file(request, query(request, FileQuery).path)
    return json_response(FileMetas(size=await services(request).storage.size(uri)))


@routes.route("GET", "/executions/{executionId}/file/preview", summary="The first lines of a text file",
              query=PreviewQuery, response=FilePreview)
async def preview_execution_file(request: web.Request) -> web.StreamResponse:
    params = query(request, PreviewQuery)
    uri = _execution_file(request, params.path)
    data = await services(request).storage.get(uri)
    try:
        text = data.decode(params.encoding)
    except (LookupError, UnicodeDecodeError):
        raise ApiError(422, f"the file is not {params.encoding} text; download it instead") from None
    lines = text.splitlines()
    return json_response(FilePreview(extension=PurePosixPath(uri).suffix.lstrip("."),
                                     content=lines[:params.max_rows], truncated=len(lines) > params.max_rows))
