"""The flows of the replay corpus and what is done with each (tests/replay/README.md).

Each case names its flows (``namespace``/``id`` of the first is the one executed) and the steps
that drive it: start it, then resume a pause, restart a failure, replay it, or set a failed task run's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Step = Literal["resume", "restart", "replay", "labels", "state"]


@dataclass(frozen=True)
class Case:
    name: str
    flows: tuple[str, ...]  # YAML sources; the first is executed
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()


_HELLO = """
id: hello
namespace: replay.corpus
inputs:
  - id: name
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.name }}"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.name | upper }}"
outputs:
  - id: shout
    type: STRING
    value: "{{ outputs.answer.value }}"
"""

_FLOWABLES = """
id: flowables
namespace: replay.corpus
tasks:
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.debug.Return
        format: left
      - id: right
        type: io.kestra.plugin.core.flow.Sequential
        tasks:
          - id: right_one
            type: io.kestra.plugin.core.debug.Return
            format: one
          - id: right_two
            type: io.kestra.plugin.core.debug.Return
            format: "{{ outputs.right_one.value }} two"
  - id: choose
    type: io.kestra.plugin.core.flow.If
    condition: "{{ outputs.left.value == 'left' }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: took then
    else:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: took else
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ outputs.right_two.value }}"
    cases:
      "one two":
        - id: matched
          type: io.kestra.plugin.core.debug.Return
          format: matched
    defaults:
      - id: unmatched
        type: io.kestra.plugin.core.debug.Return
        format: unmatched
"""

_FOREACH = """
id: loops
namespace: replay.corpus
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    concurrencyLimit: 2
    tasks:
      - id: item
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }}-{{ parent.taskrun.value | default('') }}"
  - id: count
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.item | length }} items"
"""

_RETRY_SUCCESS = """
id: flaky
namespace: replay.corpus
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ taskrun.attemptsCount < 2 }}"
    errorMessage: not yet
    retry:
      type: constant
      interval: PT0.05S
      maxAttempts: 5
"""

_RETRY_EXHAUSTED = """
id: hopeless
namespace: replay.corpus
tasks:
  - id: always
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: never works
    retry:
      type: exponential
      interval: PT0.02S
      maxInterval: PT0.1S
      maxAttempts: 3
"""

_PAUSE = """
id: approval
namespace: replay.corpus
tasks:
  - id: before
    type: io.kestra.plugin.core.debug.Return
    format: to validate
  - id: wait_for_approval
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
        defaults: true
  - id: short_pause
    type: io.kestra.plugin.core.flow.Pause
    delay: PT0.1S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "approved={{ outputs.wait_for_approval.onResume.approved }}"
"""

_PARENT = """
id: parent
namespace: replay.corpus
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: replay.corpus
    flowId: child
    inputs:
      n: 21
    wait: true
    transmitFailed: true
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "doubled={{ outputs.call.outputs.doubled }}"
"""

_CHILD = """
id: child
namespace: replay.corpus
inputs:
  - id: n
    type: INT
tasks:
  - id: double
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n * 2 }}"
outputs:
  - id: doubled
    type: STRING
    value: "{{ outputs.double.value }}"
"""

_ERRORS = """
id: risky
namespace: replay.corpus
tasks:
  - id: risky_task
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: Simulated failure
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: must not run
errors:
  - id: alert_on_failure
    type: io.kestra.plugin.core.log.Log
    message: "Workflow {{ flow.id }} failed"
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: cleanup done
"""

_ALLOW_FAILURE = """
id: tolerant
namespace: replay.corpus
tasks:
  - id: maybe
    type: io.kestra.plugin.core.flow.AllowFailure
    tasks:
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: still here
"""

_FLOW_RETRY = """
id: second_try
namespace: replay.corpus
retry:
  behavior: CREATE_NEW_EXECUTION
  type: constant
  maxAttempt: 3
  interval: PT0.05S
tasks:
  - id: first_try_fails
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ execution.originalId == execution.id }}"
    errorMessage: first try
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: "ran again as a retry of {{ execution.originalId }}"
"""

_RESTARTED = """
id: restartable
namespace: replay.corpus
tasks:
  - id: ok
    type: io.kestra.plugin.core.debug.Return
    format: fine
  - id: fails_first
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ taskrun.attemptsCount == 0 }}"
    errorMessage: fails on the first run only
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.ok.value }} at the end"
"""

# The step "state" sets the failed task run "broken" to SUCCESS: its Sequential, then the flow, run on.
_MARKED = """
id: marked
namespace: replay.corpus
tasks:
  - id: ok
    type: io.kestra.plugin.core.debug.Return
    format: fine
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: broken
        type: io.kestra.plugin.core.execution.Fail
        errorMessage: to be set right by hand
      - id: inside
        type: io.kestra.plugin.core.log.Log
        message: the group goes on
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.ok.value }} after a task run set by hand"
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: "{{ flow.id }} failed"
"""

_SLEEP_TIMEOUT = """
id: sleepy
namespace: replay.corpus
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.05S
  - id: too_long
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT5S
    timeout: PT0.1S
    allowFailure: true
  - id: labelled
    type: io.kestra.plugin.core.execution.Labels
    labels:
      stage: done
"""

CASES: tuple[Case, ...] = (
    Case("hello", (_HELLO,), inputs={"name": "corpus"}, steps=("labels",)),
    Case("flowables", (_FLOWABLES,)),
    Case("foreach", (_FOREACH,)),
    Case("retry_then_success", (_RETRY_SUCCESS,)),
    Case("retry_exhausted", (_RETRY_EXHAUSTED,)),
    Case("pause_resume", (_PAUSE,), steps=("resume",)),
    Case("subflow", (_PARENT, _CHILD)),
    Case("errors_finally", (_ERRORS,)),
    Case("allow_failure", (_ALLOW_FAILURE,)),
    Case("flow_retry", (_FLOW_RETRY,)),
    Case("restart_failed", (_RESTARTED,), steps=("restart",)),
    Case("replayed", (_HELLO,), steps=("replay",)),
    Case("sleep_timeout_labels", (_SLEEP_TIMEOUT,)),
    Case("taskrun_state", (_MARKED,), steps=("state",)),
)
