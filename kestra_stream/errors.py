"""The one exception tree of kestra-stream.

    KestraStreamError
    ├── FlowValidationError      a flow source is invalid (carries every problem with its position)
    ├── PluginError              a plugin cannot be found or loaded
    ├── InputError               execution inputs are invalid (names the input)
    ├── ExpressionError          an expression cannot be parsed or rendered (quotes it)
    ├── TaskFailure              a runnable task failed its attempt on purpose (Fail, exit code ...)
    ├── ExecutionStateError      a request does not fit the execution's state (resume a running one ...)
    ├── TriggerStateError        a request does not fit a trigger's state (a second backfill ...)
    └── BackendError             a backend (SQLite, Kafka, Elasticsearch, storage) failed or is unreachable
        └── NotFoundError        what a request names (a flow, an execution, a trigger) does not exist

Every error carries the ids it is about as fields so that a log line or an API answer can
bind them without parsing the message.
"""

from __future__ import annotations

from dataclasses import dataclass


class KestraStreamError(Exception):
    """Base of every error raised on purpose by kestra-stream."""


@dataclass(frozen=True)
class FlowProblem:
    """One thing wrong in a flow source, where it is and what to do about it."""

    message: str
    path: str = ""  # dotted location inside the flow, e.g. "tasks[0].retry.interval"
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    file: str | None = None

    def __str__(self) -> str:
        where = self.file or "<flow>"
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        at = f" (at {self.path})" if self.path else ""
        return f"{where}: {self.message}{at}"


class FlowValidationError(KestraStreamError):
    def __init__(self, problems: list[FlowProblem], *, flow_id: str | None = None,
                 namespace: str | None = None) -> None:
        self.problems = problems
        self.flow_id = flow_id
        self.namespace = namespace
        super().__init__("\n".join(str(p) for p in problems))


class PluginError(KestraStreamError):
    def __init__(self, message: str, *, plugin_type: str | None = None) -> None:
        self.plugin_type = plugin_type
        super().__init__(message)


class InputError(KestraStreamError):
    def __init__(self, input_id: str, message: str) -> None:
        self.input_id = input_id
        self.reason = message
        super().__init__(f"Invalid input '{input_id}': {message}")


class ExecutionBlockedError(KestraStreamError):
    """A flow check with behavior BLOCK_EXECUTION refused the execution; the message is the check's."""


class ExpressionError(KestraStreamError):
    def __init__(self, expression: str, message: str) -> None:
        self.expression = expression
        self.reason = message
        super().__init__(f"{message} in expression {expression!r}")


class TaskFailure(KestraStreamError):
    """Raised by a runnable task to fail the current attempt with a message for the user."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        self.task_id = task_id
        super().__init__(message)


class ExecutionStateError(KestraStreamError):
    def __init__(self, message: str, *, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(message)


class TriggerStateError(KestraStreamError):
    def __init__(self, message: str, *, uid: str) -> None:
        self.uid = uid  # namespace/flowId/triggerId
        super().__init__(message)


class BackendError(KestraStreamError):
    def __init__(self, message: str, *, execution_id: str | None = None) -> None:
        self.execution_id = execution_id
        super().__init__(message)


class NotFoundError(BackendError):
    """What a request names does not exist; the API answers 404 with this message."""
