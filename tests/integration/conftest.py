"""The ``repository`` fixture: each search repository, on SQLite and on a real Elasticsearch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kestra_stream.search import ElasticsearchRepository, SearchRepository, SqliteRepository


@pytest.fixture(params=["sqlite", "elasticsearch"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchRepository]:
    if request.param == "sqlite":
        sqlite = SqliteRepository(tmp_path / "search.db")
        yield sqlite
        sqlite.close()
        return
    url = request.getfixturevalue("elasticsearch_url")
    es = ElasticsearchRepository.connect(url, prefix=f"test-search-{uuid.uuid4().hex[:10]}")
    es.setup()
    try:
        yield es
    finally:
        es.drop()
        es.close()
