"""The embedded engine's flows: sources stored in SQLite, parsed revisions in a ``FlowCatalog``."""

from __future__ import annotations

from collections.abc import Sequence

from kestra_stream.embedded._catalog import FlowCatalog
from kestra_stream.embedded._store import Store
from kestra_stream.flows import PluginDefault, load_flow
from kestra_stream.models.flow import Flow
from kestra_stream.plugins import PluginRegistry


class EmbeddedFlows:
    def __init__(self, store: Store, catalog: FlowCatalog, *, registry: PluginRegistry | None,
                 global_defaults: Sequence[PluginDefault]) -> None:
        self._store = store
        self._catalog = catalog
        self._registry = registry
        self._defaults = list(global_defaults)

    def load(self) -> None:
        """Parse every stored revision (at start)."""
        for _namespace, _flow_id, revision, source in self._store.flow_sources():
            flow = load_flow(source, registry=self._registry, global_defaults=self._defaults)
            self._catalog.add(flow.model_copy(update={"revision": revision}), revision)

    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source becomes a new revision."""
        flow = load_flow(source, file=file, registry=self._registry, global_defaults=self._defaults)
        latest = self._catalog.latest_revision(flow.namespace, flow.id)
        if latest is not None:
            current = self._catalog.get(flow.namespace, flow.id, latest)[0]
            if current.source == source:
                return current
        revision = (latest or 0) + 1
        flow = flow.model_copy(update={"revision": revision})
        self._store.save_flow(flow.namespace, flow.id, revision, source)
        self._catalog.add(flow, revision)
        return flow

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        return self._catalog.get(namespace, flow_id, revision)

    def all_latest(self) -> list[Flow]:
        return self._catalog.all_latest()
