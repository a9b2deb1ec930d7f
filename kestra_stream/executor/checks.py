"""Flow checks: conditions rendered against the inputs before an execution is created (Kestra 1.2+).

A false condition with BLOCK_EXECUTION refuses the execution (the API answers 422 with the
check's message); FAIL_EXECUTION creates it FAILED, running nothing; CREATE_EXECUTION creates it
normally. Either of the last two keeps the message in the execution's logs. Pure: the caller
gives the renderer (and so the clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kestra_stream.errors import ExecutionBlockedError, ExpressionError
from kestra_stream.executor.events import FailedCheck
from kestra_stream.executor.variables import label_variables
from kestra_stream.expressions import is_truthy
from kestra_stream.inputs import Renderer
from kestra_stream.models.flow import CheckBehavior, Flow


def failed_checks(flow: Flow, inputs: Mapping[str, Any], labels: Mapping[str, str], *, render: Renderer,
                  envs: Mapping[str, str], globals_: Mapping[str, Any]) -> list[FailedCheck]:
    """The checks whose condition is false; raises ExecutionBlockedError for the first blocking one."""
    variables = {"flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
                 "inputs": dict(inputs), "labels": label_variables({**flow.labels_dict, **labels}),
                 "vars": flow.variables or {}, "envs": dict(envs), "globals": dict(globals_)}
    failed: list[FailedCheck] = []
    for index, check in enumerate(flow.checks or ()):
        try:
            holds = is_truthy(render(check.condition, variables))
        except ExpressionError as exc:
            raise ExecutionBlockedError(
                f"flow check {index + 1} of {flow.uid} could not be evaluated: {exc}") from exc
        if holds:
            continue
        if check.behavior == CheckBehavior.BLOCK_EXECUTION:
            raise ExecutionBlockedError(check.message)
        failed.append(FailedCheck(message=check.message, style=check.style,
                                  fail=check.behavior == CheckBehavior.FAIL_EXECUTION))
    return failed
