"""FILE inputs land in internal storage before the execution exists, as in Kestra."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kestra_stream.errors import InputError
from kestra_stream.models.inputs import FileInput, Input
from kestra_stream.storage._protocol import Storage
from kestra_stream.storage._uris import input_uri


async def store_file_inputs(definitions: Sequence[Input], inputs: Mapping[str, Any], storage: Storage, *,
                            namespace: str, flow_id: str, execution_id: str) -> dict[str, Any]:
    """``inputs`` with every FILE input given as a local ``file://`` URI uploaded, and replaced by the
    ``kestra://`` URI of its copy in the execution's storage."""
    stored = dict(inputs)
    for definition in definitions:
        value = stored.get(definition.id)
        if not isinstance(definition, FileInput) or not isinstance(value, str) or not value.startswith("file:"):
            continue
        path = Path(unquote(urlparse(value).path))
        if not path.is_file():
            raise InputError(definition.id, f"{path} is not a readable file; give the path of an existing file")
        uri = input_uri(namespace, flow_id, execution_id, definition.id, path.name)
        stored[definition.id] = await storage.put(uri, path)
    return stored
