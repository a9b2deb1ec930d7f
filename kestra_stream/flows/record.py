"""What a flow store keeps per flow revision, shared by both backends and the search index."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FlowRecord(BaseModel):
    """A flow revision and its source, as flow stores keep it; on Kafka, a value of the flows topic (key
    ``namespace/id``: the newest revision).

    Every revision is also kept under ``namespace/id/revision`` so executions of older revisions
    can still be folded after the flow changed.
    """

    model_config = ConfigDict(frozen=True)

    namespace: str
    id: str
    revision: int
    source: str
    deleted: bool = False
