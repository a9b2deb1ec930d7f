"""The wire format: events (worker results among them), states and jobs as versioned JSON records.

Every backend reads and writes them through the codecs here, so a record written by one version
is read the same way by the next. A record is a JSON object whose first member is ``"v"``, the
version of the format that wrote it; records written before the format was versioned have no
``"v"`` and are version 0.

Reading a record upgrades it step by step (``upgrades[n]`` turns a version-n object into a
version-n+1 one) to the current version, then validates it. When a change to the models would
make an older record read differently, bump ``WIRE_VERSION``, add the step that rewrites the old
shape, and record a new replay corpus (tests/replay/README.md): the corpus of every earlier
version must still fold to what it folded to when it was recorded.

A record that no step can bring to the current version (newer than this code, not JSON, not the
right shape) raises ``UnreadableRecord``: the caller decides where it goes (the Kafka executor
dead-letters it), never silently past it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from kestra_stream.executor.commands import RunTask
from kestra_stream.executor.events import EVENT_ADAPTER, Event
from kestra_stream.executor.fold import ExecutionState

WIRE_VERSION = 1

T = TypeVar("T")
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


class UnreadableRecord(ValueError):
    """A record this version cannot read; ``version`` is the one it says it was written by (if any)."""

    def __init__(self, kind: str, reason: str, version: int | None = None) -> None:
        self.kind = kind
        self.reason = reason
        self.version = version
        super().__init__(f"unreadable {kind} record: {reason}")


def _unchanged(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


# Version 1 only added the "v" member: a version-0 record has the same shape.
_FIRST_STEP: dict[int, Upgrade] = {0: _unchanged}


class Codec(Generic[T]):
    """One kind of record: ``encode`` writes the current version, ``decode`` reads any version up to it."""

    def __init__(self, kind: str, adapter: TypeAdapter[T], upgrades: Mapping[int, Upgrade] | None = None) -> None:
        self.kind = kind
        self._adapter = adapter
        self._upgrades = dict(upgrades if upgrades is not None else _FIRST_STEP)
        missing = [v for v in range(WIRE_VERSION) if v not in self._upgrades]
        if missing:
            raise ValueError(f"the {kind} codec has no upgrade from version(s) {missing} to {WIRE_VERSION}")
        self._prefix = b'{"v":%d,' % WIRE_VERSION

    def encode(self, value: T) -> bytes:
        body = self._adapter.dump_json(value)
        # Spliced rather than re-serialized: the model's own JSON, with the version as first member.
        return self._prefix + body[1:] if body != b"{}" else self._prefix[:-1] + b"}"

    def decode(self, data: bytes | str) -> T:
        raw = data.encode() if isinstance(data, str) else data
        if raw.startswith(self._prefix):  # the current version: no upgrade, validated from the bytes
            try:
                return self._adapter.validate_json(b"{" + raw[len(self._prefix):])
            except ValidationError as exc:
                raise UnreadableRecord(self.kind, _short(exc), WIRE_VERSION) from exc
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise UnreadableRecord(self.kind, f"not JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise UnreadableRecord(self.kind, f"a JSON {type(obj).__name__}, not an object")
        version = obj.pop("v", 0)
        if not isinstance(version, int) or version < 0:
            raise UnreadableRecord(self.kind, f"its version {version!r} is not a version number")
        if version > WIRE_VERSION:
            raise UnreadableRecord(self.kind, f"written by wire format version {version}, newer than this "
                                   f"version's {WIRE_VERSION}: upgrade this component", version)
        for step in range(version, WIRE_VERSION):
            obj = self._upgrades[step](obj)
        try:
            return self._adapter.validate_python(obj)
        except ValidationError as exc:
            raise UnreadableRecord(self.kind, _short(exc), version) from exc


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else None
    where = ".".join(str(p) for p in first["loc"]) if first else ""
    return f"{exc.error_count()} validation error(s), first at {where or 'the top'}: " \
           f"{first['msg'] if first else exc}"


EVENTS: Codec[Event] = Codec("event", EVENT_ADAPTER)
STATES: Codec[ExecutionState] = Codec("state", TypeAdapter(ExecutionState))
JOBS: Codec[RunTask] = Codec("job", TypeAdapter(RunTask))
