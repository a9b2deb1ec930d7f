"""Which internal storage a process uses: a local directory (embedded default) or MinIO / S3."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from ruamel.yaml import YAML

from kestra_stream.errors import BackendError
from kestra_stream.storage._local import LocalStorage
from kestra_stream.storage._protocol import Storage

ENV_PREFIX = "KESTRA_STREAM_STORAGE_"


class StorageSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["local", "minio"] = "local"
    # local: the root directory (default: <home>/storage)
    path: Path | None = None
    # minio / S3
    endpoint: str = "http://localhost:9000"
    access_key: str = "minioadmin"
    secret_key: str = "minioadmin"
    bucket: str = "kestra-stream"

    def build(self, home: Path) -> Storage:
        if self.type == "minio":
            from kestra_stream.storage._minio import MinioStorage  # the MinIO client only when used

            return MinioStorage(self.endpoint, self.access_key, self.secret_key, self.bucket)
        return LocalStorage(self.path or home / "storage")

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> StorageSettings:
        """The file's ``storage:`` section, then ``KESTRA_STREAM_STORAGE_*`` variables."""
        data: dict[str, Any] = {}
        if path is not None:
            data = dict((YAML(typ="safe").load(path.read_text()) or {}).get("storage") or {})
        env = os.environ if environ is None else environ
        data.update({k[len(ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise BackendError(f"invalid storage settings{f' in {path}' if path else ''}: {exc}") from exc
