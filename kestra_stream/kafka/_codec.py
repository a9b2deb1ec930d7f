"""What travels on the topics, as JSON: events, worker jobs, state snapshots, log lines, flows.

Events (worker results among them), jobs and states are versioned records of executor/wire.py:
a record no version of the codec reads raises ``UnreadableRecord`` (a ``ValueError``).
"""

from __future__ import annotations

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import Event
from kestra_stream.executor.fold import ExecutionState
from kestra_stream.executor.wire import EVENTS, JOBS, STATES
from kestra_stream.flows.record import FlowRecord
from kestra_stream.models.log import LogEntry

__all__ = ["FlowRecord", "decode_event", "decode_job", "decode_log", "decode_state", "encode_event",
           "encode_job", "encode_log", "encode_state", "flow_key"]


def flow_key(namespace: str, flow_id: str, revision: int | None = None) -> bytes:
    return (f"{namespace}/{flow_id}" + (f"/{revision}" if revision is not None else "")).encode()


def encode_event(event: Event) -> bytes:
    return EVENTS.encode(event)


def decode_event(data: bytes) -> Event:
    return EVENTS.decode(data)


def encode_job(job: RunTask) -> bytes:
    return JOBS.encode(job)


def decode_job(data: bytes) -> RunTask:
    return JOBS.decode(data)


def encode_state(state: ExecutionState) -> bytes:
    return STATES.encode(state)


def decode_state(data: bytes) -> ExecutionState:
    return STATES.decode(data)


def encode_log(entry: LogEntry) -> bytes:
    return entry.model_dump_json().encode()


def decode_log(data: bytes) -> LogEntry:
    return LogEntry.model_validate_json(data)
