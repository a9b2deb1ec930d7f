"""Flows known to an engine, by namespace, id and revision (a revision never changes)."""

from __future__ import annotations

from kestra_stream.errors import NotFoundError
from kestra_stream.models.flow import Flow


class FlowNotFoundError(NotFoundError):
    def __init__(self, namespace: str, flow_id: str, revision: int | None = None) -> None:
        at = f" at revision {revision}" if revision is not None else ""
        super().__init__(f"flow '{namespace}.{flow_id}'{at} does not exist: deploy it first "
                         "(a file in the flows directory, or `--flows DIR`)")


class FlowCatalog:
    def __init__(self) -> None:
        self._revisions: dict[tuple[str, str], dict[int, Flow]] = {}

    def add(self, flow: Flow, revision: int) -> None:
        self._revisions.setdefault((flow.namespace, flow.id), {})[revision] = flow

    def latest_revision(self, namespace: str, flow_id: str) -> int | None:
        revisions = self._revisions.get((namespace, flow_id))
        return max(revisions) if revisions else None

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> tuple[Flow, int]:
        revisions = self._revisions.get((namespace, flow_id), {})
        number = revision if revision is not None else (max(revisions) if revisions else None)
        if number is None or number not in revisions:
            raise FlowNotFoundError(namespace, flow_id, revision)
        return revisions[number], number

    def all_latest(self) -> list[Flow]:
        return [revs[max(revs)] for revs in self._revisions.values()]
