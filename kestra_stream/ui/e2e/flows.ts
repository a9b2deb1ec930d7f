// The flow the journeys build: every kind of branch the topology draws, and every input kind the
// Run dialog has to render (a FILE among them).
export function journeyFlow(namespace: string, id: string, description = 'A flow **made in the browser**.'): string {
  return `id: ${id}
namespace: ${namespace}
description: |
  ${description}
labels:
  origin: browser
inputs:
  - id: who
    type: STRING
    defaults: World
  - id: count
    type: INT
    min: 1
  - id: loud
    type: BOOLEAN
    defaults: false
  - id: color
    type: SELECT
    values: [red, green]
  - id: data
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b"]
    tasks:
      - id: step
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.log.Log
        message: left
      - id: right
        type: io.kestra.plugin.core.log.Log
        message: right
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.loud }}"
    then:
      - id: shout
        type: io.kestra.plugin.core.log.Log
        message: "HELLO {{ inputs.who }}"
    else:
      - id: whisper
        type: io.kestra.plugin.core.log.Log
        message: "hello {{ inputs.who }} x{{ inputs.count }} in {{ inputs.color }}"
  - id: read
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(inputs.data) }}"
errors:
  - id: on_failure
    type: io.kestra.plugin.core.log.Log
    message: failed
`
}

export const TASK_IDS = ['each', 'step', 'both', 'left', 'right', 'check', 'shout', 'whisper', 'read', 'on_failure']
