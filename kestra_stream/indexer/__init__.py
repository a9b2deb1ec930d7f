"""Indexers: project executions, logs, flows and triggers into a search repository.

``KafkaIndexer`` follows the Kafka topics into Elasticsearch (or any ``SearchRepository``);
``EmbeddedIndexer`` follows an ``EmbeddedEngine`` into SQLite FTS5.
"""

from kestra_stream.indexer._batch import PendingBatch, Record
from kestra_stream.indexer._embedded import EmbeddedIndexer
from kestra_stream.indexer._history import IndexedHistory, use_indexed_history
from kestra_stream.indexer._kafka import IndexerSettings, KafkaIndexer

__all__ = ["EmbeddedIndexer", "IndexedHistory", "IndexerSettings", "KafkaIndexer", "PendingBatch", "Record",
           "use_indexed_history"]
