"""The embedded backend: SQLite event log and states, in-process workers; no external service."""

from kestra_stream.embedded._engine import EmbeddedEngine, envs_from_environment
from kestra_stream.flows.catalog import FlowCatalog, FlowNotFoundError

__all__ = ["EmbeddedEngine", "FlowCatalog", "FlowNotFoundError", "envs_from_environment"]
