"""The embedded engine's flows: sources stored in SQLite, parsed revisions in a ``FlowCatalog``.

Live revisions are rows of the store's ``flows`` table; a deletion (Kestra's: the last source
under the next revision, marked deleted) is a row of ``flow_deletions`` next to it, so the
``flows`` table keeps meaning "revisions that can run". Listeners (the embedded indexer) hear of
every new revision, deletions included, after it is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import structlog

from kestra_stream.embedded._store import Store
from kestra_stream.errors import BackendError, FlowValidationError
from kestra_stream.flows import PluginDefault, load_flow
from kestra_stream.flows.catalog import FlowCatalog
from kestra_stream.models.flow import Flow
from kestra_stream.plugins import PluginRegistry

log = structlog.get_logger(__name__)

FlowListener = Callable[[Flow], None]

_DELETIONS = """
CREATE TABLE IF NOT EXISTS flow_deletions (
  namespace TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL, source TEXT NOT NULL,
  PRIMARY KEY (namespace, id, revision))
"""


class EmbeddedFlows:
    def __init__(self, store: Store, catalog: FlowCatalog, *, registry: PluginRegistry | None,
                 global_defaults: Sequence[PluginDefault]) -> None:
        self._store = store
        self._catalog = catalog
        self._registry = registry
        self._defaults = list(global_defaults)
        self._listeners: list[FlowListener] = []
        self._sql(_DELETIONS)

    def subscribe(self, listener: FlowListener) -> None:
        """Call ``listener`` with every revision stored from now on (deploys and deletions)."""
        self._listeners.append(listener)

    def load(self) -> None:
        """Parse every stored revision (at start); one that no longer validates is logged and skipped."""
        stored = [(ns, fid, rev, src, False) for ns, fid, rev, src in self._store.flow_sources()]
        stored += [(ns, fid, rev, src, True) for ns, fid, rev, src in
                   self._sql("SELECT namespace, id, revision, source FROM flow_deletions")]
        for namespace, flow_id, revision, source, deleted in sorted(stored, key=lambda row: row[2]):
            try:
                flow = self.parse(source)
            except FlowValidationError as exc:
                # A revision that no longer validates (a plugin was removed) must not stop the others.
                log.error("flow_revision_invalid", flow=f"{namespace}.{flow_id}", revision=revision, error=str(exc))
                continue
            self._catalog.add(flow.model_copy(update={"revision": revision, "deleted": deleted}), revision)

    def parse(self, source: str, *, file: str | None = None) -> Flow:
        """Validate a flow exactly as ``deploy`` does, without storing it."""
        return load_flow(source, file=file, registry=self._registry, global_defaults=self._defaults)

    def deploy(self, source: str, *, file: str | None = None) -> Flow:
        """Validate and store a flow; a changed source (or a deleted flow) becomes a new revision."""
        flow = self.parse(source, file=file)
        current = self._catalog.latest(flow.namespace, flow.id)
        if current is not None and not current.deleted and current.source == source:
            return current
        revision = (current.revision or 0) + 1 if current is not None else 1
        flow = flow.model_copy(update={"revision": revision})
        self._store.save_flow(flow.namespace, flow.id, revision, source)
        self._stored(flow)
        return flow

    def delete(self, namespace: str, flow_id: str) -> Flow:
        """Delete a flow: its last source becomes a deleted revision; NotFoundError when it is not live."""
        current, revision = self._catalog.get(namespace, flow_id)
        source = current.source or ""
        deleted = current.model_copy(update={"revision": revision + 1, "deleted": True})
        self._sql("INSERT OR REPLACE INTO flow_deletions VALUES (?, ?, ?, ?)",
                  (namespace, flow_id, revision + 1, source))
        self._stored(deleted)
        return deleted

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        return self._catalog.get(namespace, flow_id, revision)

    def revisions(self, namespace: str, flow_id: str) -> list[Flow]:
        return self._catalog.revisions(namespace, flow_id)

    def all_latest(self) -> list[Flow]:
        return self._catalog.all_latest()

    def all_latest_with_deleted(self) -> list[Flow]:
        """The newest revision of every flow ever deployed, deletions included (for indexing)."""
        return self._catalog.all_latest(include_deleted=True)

    def _stored(self, flow: Flow) -> None:
        assert flow.revision is not None
        self._catalog.add(flow, flow.revision)
        for listener in self._listeners:
            listener(flow)

    def _sql(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[str, str, int, str]]:
        # The store's connection is shared with the engine loop: one short transaction of our own.
        try:
            with self._store.transaction() as db:
                return list(db.execute(sql, params))
        except sqlite3.Error as exc:
            raise BackendError(f"the embedded flow store failed: {exc}") from exc
