"""``kestra://`` URIs: parsing with every escape refused, and the layout Kestra's StorageContext builds.

A URI is ``kestra:///`` followed by ``/``-separated, percent-encoded segments. Parsing decodes each
segment and refuses empty ones, ``.`` and ``..``, and any segment that would not be one path
component once decoded (an encoded ``/``, a backslash, a NUL): a URI names exactly one place below
the storage root, whatever the backend.

The layout (namespace dots become folders; flow, task and trigger ids are slugified as Kestra does):

    /<namespace as path>/<flow>/executions/<execution>/tasks/<task>/<taskrun>/<file>
    /<namespace as path>/<flow>/executions/<execution>/inputs/<input>/<file>
    /<namespace as path>/<flow>/executions/<execution>/trigger/<trigger>/<file>
    /<namespace as path>/_files/...   namespace files
    /<namespace as path>/_kv/...      key-value store
    /<namespace as path>/_templates/<id>.yaml   templates (Kestra's deprecated flow templates)
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

from kestra_stream.storage._errors import StorageUriError

SCHEME = "kestra"
PREFIX = "kestra://"

# RFC 3986 pchar minus the percent sign: what may stay unencoded in a path segment.
_SAFE = "-._~!$&'()*+,;=:@"
_NON_WORD = re.compile(r"[^\w-]")
_DASHES = re.compile(r"-{2,}")


def slugify(text: str) -> str:
    """Kestra's ``Slugify.of``: whitespace to dashes, accents and other non-word characters dropped,
    underscores to dashes, repeated dashes collapsed, trimmed, lower case."""
    slug = re.sub(r"\s", "-", text)
    slug = unicodedata.normalize("NFD", slug)
    slug = _NON_WORD.sub("", slug).replace("_", "-")
    return _DASHES.sub("-", slug).strip("-").lower()


def _check_segment(segment: str, uri: str) -> str:
    if segment in ("", ".", ".."):
        shown = segment or "an empty segment ('//')"
        raise StorageUriError(
            f"storage URI {uri!r} contains {shown}: a kestra:// URI must name a file below the storage "
            "root, without '.', '..' or empty path segments", uri=uri)
    if "/" in segment or "\\" in segment or "\x00" in segment:
        raise StorageUriError(
            f"storage URI {uri!r} has a segment {segment!r} holding a slash, backslash or NUL once "
            "decoded; encode file names as single path segments", uri=uri)
    return segment


def parse_uri(uri: str, *, prefix: bool = False) -> tuple[str, ...]:
    """The decoded path segments of a ``kestra:///...`` URI.

    ``prefix=True`` also accepts the root ``kestra:///`` and a trailing slash, for listing.
    """
    if not isinstance(uri, str) or not uri.startswith(PREFIX):
        raise StorageUriError(
            f"{uri!r} is not an internal storage URI: expected 'kestra:///<namespace>/<flow>/...'",
            uri=str(uri))
    path = uri[len(PREFIX):]
    if not path.startswith("/"):
        raise StorageUriError(
            f"storage URI {uri!r} has a host part; internal storage URIs start with three slashes, "
            f"as in 'kestra:///{path}'", uri=uri)
    path = path[1:]
    if prefix:
        if path == "":
            return ()
        path = path.removesuffix("/")
    if path == "":
        raise StorageUriError(f"storage URI {uri!r} names no file: add the path after 'kestra:///'", uri=uri)
    try:
        decoded = [unquote(raw, errors="strict") for raw in path.split("/")]
    except UnicodeDecodeError as exc:
        raise StorageUriError(f"storage URI {uri!r} percent-encodes bytes that are not UTF-8",
                              uri=uri) from exc
    return tuple(_check_segment(segment, uri) for segment in decoded)


def build_uri(segments: tuple[str, ...] | list[str]) -> str:
    """The canonical URI of decoded path segments (each one checked, then percent-encoded)."""
    checked = [_check_segment(s, "/".join(segments)) for s in segments]
    return PREFIX + "/" + "/".join(quote(s, safe=_SAFE) for s in checked)


def normalize_uri(uri: str) -> str:
    """The canonical spelling of ``uri`` (the same file always has the same URI)."""
    return build_uri(parse_uri(uri))


def child_uri(base: str, *names: str) -> str:
    """``base`` with more segments appended; each name must be one plain segment."""
    return build_uri([*parse_uri(base, prefix=True), *names])


def is_within(uri: str, prefix_uri: str) -> bool:
    """Whether ``uri`` is ``prefix_uri`` or below it, segment by segment (``/a/bc`` is not below ``/a/b``)."""
    segments = parse_uri(uri, prefix=True)
    prefix = parse_uri(prefix_uri, prefix=True)
    return segments[: len(prefix)] == prefix


def namespace_segments(namespace: str) -> tuple[str, ...]:
    if not namespace:
        raise StorageUriError("a namespace is required to build a storage URI")
    parts = tuple(namespace.split("."))
    for part in parts:
        _check_segment(part, namespace)
    return parts


def namespace_path(namespace: str) -> str:
    """``company.team`` → ``company/team``, as Kestra's ``getNamespaceAsPath``."""
    return "/".join(namespace_segments(namespace))


def flow_uri(namespace: str, flow_id: str) -> str:
    return build_uri([*namespace_segments(namespace), slugify(flow_id)])


def execution_uri(namespace: str, flow_id: str, execution_id: str) -> str:
    return build_uri([*namespace_segments(namespace), slugify(flow_id), "executions", execution_id])


def task_uri(namespace: str, flow_id: str, execution_id: str, task_id: str, taskrun_id: str,
             file_name: str | None = None) -> str:
    """Where a task run's files live; with ``file_name``, that file's URI."""
    segments = [*namespace_segments(namespace), slugify(flow_id), "executions", execution_id,
                "tasks", slugify(task_id), taskrun_id]
    return build_uri(segments + ([file_name] if file_name is not None else []))


def input_uri(namespace: str, flow_id: str, execution_id: str, input_id: str, file_name: str) -> str:
    """Where a FILE input of an execution is stored."""
    return build_uri([*namespace_segments(namespace), slugify(flow_id), "executions", execution_id,
                      "inputs", input_id, file_name])


def trigger_uri(namespace: str, flow_id: str, execution_id: str, trigger_id: str) -> str:
    return build_uri([*namespace_segments(namespace), slugify(flow_id), "executions", execution_id,
                      "trigger", slugify(trigger_id)])


# The empty file that makes an empty folder of namespace files exist (storage holds files only).
FOLDER_MARKER = ".kestra-stream-folder"


def namespace_files_uri(namespace: str) -> str:
    return build_uri([*namespace_segments(namespace), "_files"])


def states_uri(namespace: str, flow_id: str | None = None) -> str:
    """Where the state tasks keep their states: the flow's, or the namespace's (shared by its flows)."""
    base = [*namespace_segments(namespace), slugify(flow_id)] if flow_id is not None else [
        *namespace_segments(namespace)]
    return build_uri([*base, "_states"])


def kv_uri(namespace: str) -> str:
    return build_uri([*namespace_segments(namespace), "_kv"])


def templates_uri(namespace: str, template_id: str | None = None) -> str:
    """The folder of a namespace's templates; with ``template_id``, that template's YAML source."""
    return build_uri([*namespace_segments(namespace), "_templates",
                      *([f"{template_id}.yaml"] if template_id is not None else [])])


_EXECUTION_IN_PATH = re.compile(r"^/(.+)/executions/([^/]+)/", re.IGNORECASE)


def execution_id_of(uri: str) -> str | None:
    """The execution a URI belongs to, if it is under an ``executions/<id>/`` folder."""
    path = "/" + "/".join(parse_uri(uri, prefix=True)) + "/"
    found = _EXECUTION_IN_PATH.match(path)
    return found.group(2) if found else None
