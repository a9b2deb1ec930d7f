"""Flows known to an engine, by namespace, id and revision (a revision never changes).

A deletion is a revision too, as in Kestra: the flow's last source under the next revision
number, marked ``deleted``. The flow then disappears from ``get`` (latest) and ``all_latest``,
its earlier revisions stay readable for the executions that ran them, and deploying it again
continues the numbering after the deletion.
"""

from __future__ import annotations

from kestra_stream.errors import NotFoundError
from kestra_stream.models.flow import Flow


class FlowNotFoundError(NotFoundError):
    def __init__(self, namespace: str, flow_id: str, revision: int | None = None, *, deleted: bool = False) -> None:
        self.deleted = deleted  # waiting for the revision to appear is pointless: it was deleted
        at = f" at revision {revision}" if revision is not None else ""
        if deleted:
            super().__init__(f"flow '{namespace}.{flow_id}'{at} was deleted: deploy it again to use it, or ask for "
                             "one of its earlier revisions")
            return
        super().__init__(f"flow '{namespace}.{flow_id}'{at} does not exist: deploy it first "
                         "(a file in the flows directory, or `--flows DIR`)")


class FlowCatalog:
    def __init__(self) -> None:
        self._revisions: dict[tuple[str, str], dict[int, Flow]] = {}

    def add(self, flow: Flow, revision: int) -> None:
        """Record a revision (``flow.deleted`` for a deletion); adding the same revision again replaces it."""
        self._revisions.setdefault((flow.namespace, flow.id), {})[revision] = flow

    def latest_revision(self, namespace: str, flow_id: str) -> int | None:
        """The highest revision number, a deletion included (the next deploy takes the one after it)."""
        revisions = self._revisions.get((namespace, flow_id))
        return max(revisions) if revisions else None

    def latest(self, namespace: str, flow_id: str) -> Flow | None:
        """The newest revision, even a deletion; None when the flow was never deployed."""
        revisions = self._revisions.get((namespace, flow_id))
        return revisions[max(revisions)] if revisions else None

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        """A revision (the latest by default) that is not a deletion; ``FlowNotFoundError`` otherwise."""
        revisions = self._revisions.get((namespace, flow_id), {})
        number = revision if revision is not None else (max(revisions) if revisions else None)
        if number is None or number not in revisions:
            raise FlowNotFoundError(namespace, flow_id, revision)
        flow = revisions[number]
        if flow.deleted:
            raise FlowNotFoundError(namespace, flow_id, revision, deleted=True)
        return flow, number

    def revisions(self, namespace: str, flow_id: str) -> list[Flow]:
        """Every revision, oldest first, deletions included; empty when the flow was never deployed."""
        revisions = self._revisions.get((namespace, flow_id), {})
        return [revisions[number] for number in sorted(revisions)]

    def all_latest(self, *, include_deleted: bool = False) -> list[Flow]:
        """The newest revision of every flow; a deleted flow only with ``include_deleted``."""
        latest = (revs[max(revs)] for revs in self._revisions.values() if revs)
        return [flow for flow in latest if include_deleted or not flow.deleted]
