"""Internal storage: files addressed by ``kestra:///`` URIs, scoped by namespace, flow and execution.

``Storage`` is the interface; ``LocalStorage`` keeps files in a local directory and ``MinioStorage``
in a MinIO / S3 bucket; ``ScopedStorage`` limits any storage to some prefixes (what a task run is
handed). The URI helpers build the layout of Kestra's StorageContext.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kestra_stream.storage._errors import StorageError, StorageFileNotFoundError, StorageUriError
from kestra_stream.storage._inputs import store_file_inputs
from kestra_stream.storage._local import LocalStorage
from kestra_stream.storage._protocol import Storage
from kestra_stream.storage._scoped import ScopedStorage
from kestra_stream.storage._settings import StorageSettings
from kestra_stream.storage._uris import (
    FOLDER_MARKER,
    PREFIX,
    SCHEME,
    build_uri,
    child_uri,
    execution_id_of,
    execution_uri,
    flow_uri,
    input_uri,
    is_within,
    kv_uri,
    namespace_files_uri,
    namespace_path,
    normalize_uri,
    parse_uri,
    slugify,
    states_uri,
    task_uri,
    templates_uri,
    trigger_uri,
)

if TYPE_CHECKING:
    from kestra_stream.storage._minio import MinioStorage


def __getattr__(name: str) -> Any:
    # The MinIO client's import is paid only by what uses MinIO.
    if name == "MinioStorage":
        from kestra_stream.storage._minio import MinioStorage

        return MinioStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FOLDER_MARKER",
    "PREFIX",
    "SCHEME",
    "LocalStorage",
    "MinioStorage",
    "ScopedStorage",
    "Storage",
    "StorageError",
    "StorageFileNotFoundError",
    "StorageSettings",
    "StorageUriError",
    "build_uri",
    "child_uri",
    "execution_id_of",
    "execution_uri",
    "flow_uri",
    "input_uri",
    "is_within",
    "kv_uri",
    "namespace_files_uri",
    "namespace_path",
    "normalize_uri",
    "parse_uri",
    "slugify",
    "states_uri",
    "store_file_inputs",
    "task_uri",
    "templates_uri",
    "trigger_uri",
]
