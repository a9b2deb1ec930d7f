import { describe, expect, it } from 'vitest'
import { typeAt } from '../../src/lib/yamlContext'

const SOURCE = `id: x
namespace: a.b
inputs:
  - id: n
    type: STRING
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: step
        message: hi
        type: io.kestra.plugin.core.log.Log
      - id: untyped
        message: hi
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"`.split('\n')

const line = (needle: string) => SOURCE.findIndex((l) => l.includes(needle))

describe('the type under the cursor', () => {
  it('is the type of the task whose mapping holds the line, declared before or after it', () => {
    expect(typeAt(SOURCE, line('values: [1, 2]'))).toBe('io.kestra.plugin.core.flow.ForEach')
    expect(typeAt(SOURCE, line('- id: step'))).toBe('io.kestra.plugin.core.log.Log')
    expect(typeAt(SOURCE, line('message: hi'))).toBe('io.kestra.plugin.core.log.Log')
    expect(typeAt(SOURCE, line('cron:'))).toBe('io.kestra.plugin.core.trigger.Schedule')
  })

  it('falls back to the enclosing task for an item without a type, and ignores input types', () => {
    expect(typeAt(SOURCE, line('- id: untyped'))).toBe('io.kestra.plugin.core.flow.ForEach')
    expect(typeAt(SOURCE, line('type: STRING'))).toBeNull()
    expect(typeAt(SOURCE, 0)).toBeNull()
  })
})
