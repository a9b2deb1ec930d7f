"""The liveness record a worker publishes on the heartbeats topic (compacted, keyed by worker id).

Whoever resubmits the jobs of dead workers reads these: a worker whose newest record is older
than a few intervals is gone, and ``running`` says which job ids it held. A worker that stops
cleanly writes a tombstone (no value), so compaction forgets it.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class WorkerHeartbeat(BaseModel):
    model_config = ConfigDict(frozen=True)

    worker_id: str
    host: str
    pid: int
    group_id: str
    # The worker group key it serves (None: jobs of no group); the executor reads which groups are alive.
    worker_group: str | None = None
    concurrency: int
    running: list[str]  # job ids, "taskrun_id:attempt"
    at: datetime


def encode_heartbeat(heartbeat: WorkerHeartbeat) -> bytes:
    return heartbeat.model_dump_json().encode()


def decode_heartbeat(data: bytes) -> WorkerHeartbeat:
    return WorkerHeartbeat.model_validate_json(data)


def default_worker_id() -> str:
    """Unique per process, readable in logs: host, pid and a random suffix (pids get reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
