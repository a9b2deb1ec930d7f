"""Storage settings come from the settings file's `storage:` section, then KESTRA_STREAM_STORAGE_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_stream.errors import BackendError
from kestra_stream.storage import LocalStorage, MinioStorage, StorageSettings


def test_local_storage_under_the_home_is_the_default(tmp_path: Path) -> None:
    storage = StorageSettings.load(environ={}).build(tmp_path)
    assert isinstance(storage, LocalStorage)


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "kestra-stream.yaml"
    config.write_text("storage:\n  type: minio\n  bucket: from-file\n  endpoint: http://minio:9000\n")
    settings = StorageSettings.load(config, environ={"KESTRA_STREAM_STORAGE_BUCKET": "from-env"})
    assert (settings.type, settings.bucket, settings.endpoint) == ("minio", "from-env", "http://minio:9000")
    assert isinstance(settings.build(tmp_path), MinioStorage)


def test_an_unknown_storage_type_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "kestra-stream.yaml"
    config.write_text("storage:\n  type: gcs\n")
    with pytest.raises(BackendError, match=r"invalid storage settings in .*kestra-stream.yaml"):
        StorageSettings.load(config, environ={})
