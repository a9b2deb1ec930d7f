"""logToFile on a trigger: the lines of the evaluation that started an execution, as a file beside it.

Kestra writes such a trigger's log lines to a file instead of the log queue and, when the trigger
starts an execution, puts the file in internal storage and its URI on the execution's trigger block
(``trigger.logFile``). A trigger's lines never reach an execution's log store here in any case (they
go to the evaluating process's log): the file is where a user finds them next to the execution. Its
last line says which firing started the execution, so a Schedule, which logs nothing else, still
leaves a file saying what fired it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kestra_stream.models.flow import Flow
from kestra_stream.models.log import log_line
from kestra_stream.models.task import LogLevel, Trigger
from kestra_stream.storage import Storage, child_uri, trigger_uri

LOG_FILE_NAME = "log.txt"
# A realtime trigger that logs without ever emitting must not grow without bound: the oldest lines go.
MAX_LINES = 10_000


@dataclass(frozen=True)
class TriggerLine:
    at: datetime
    level: LogLevel
    message: str


class TriggerLines:
    """The lines a trigger logged since its last emitted execution (at most ``MAX_LINES``, newest kept)."""

    def __init__(self) -> None:
        self._lines: deque[TriggerLine] = deque(maxlen=MAX_LINES)
        self._dropped = 0

    def add(self, line: TriggerLine) -> None:
        if len(self._lines) == self._lines.maxlen:
            self._dropped += 1
        self._lines.append(line)

    def take(self) -> list[TriggerLine]:
        """The lines so far (one saying how many were left out first, if any); empties the buffer."""
        lines = list(self._lines)
        if self._dropped and lines:
            lines.insert(0, TriggerLine(lines[0].at, LogLevel.WARN,
                                        f"{self._dropped} earlier lines were left out (at most {MAX_LINES} kept)"))
        self._lines.clear()
        self._dropped = 0
        return lines


async def store_trigger_log(storage: Storage, flow: Flow, trigger: Trigger, execution_id: str,
                            lines: Sequence[TriggerLine], at: datetime) -> str:
    """Write ``lines`` and the firing's own line to the execution's trigger folder; return the file's URI."""
    started = TriggerLine(at, LogLevel.INFO, f"trigger '{trigger.id}' ({trigger.type}) started execution "
                                             f"{execution_id}")
    text = "".join(log_line(line.at, line.level, line.message) for line in (*lines, started))
    uri = child_uri(trigger_uri(flow.namespace, flow.id, execution_id, trigger.id), LOG_FILE_NAME)
    return await storage.put(uri, text.encode())
