import { describe, expect, it } from 'vitest'
import { validationMarkers, violationMarker } from '../../src/lib/markers'

const SEVERITIES = { Error: 8, Warning: 4 }
const SOURCE = ['id: x', 'namespace: a.b', 'tasks:', '  - id: t', '    type: io.kestra.plugin.core.log.Log', '    foo: 1']
const read = (line: number) => SOURCE[line - 1] ?? null

describe('validation markers', () => {
  it('puts a problem at its line and column, stretched to the end of that line', () => {
    const marker = violationMarker({ message: "unknown property 'foo'", path: 'tasks[0].foo', line: 6, column: 5 }, 8, SOURCE.length, read)
    expect(marker).toMatchObject({ startLineNumber: 6, startColumn: 5, endLineNumber: 6, endColumn: 11, severity: 8 })
    expect(marker.message).toBe("unknown property 'foo' [tasks[0].foo]")
  })

  it('starts a problem without a column at the first non-blank character of its line', () => {
    const marker = violationMarker({ message: 'missing message', line: 4 }, 8, SOURCE.length, read)
    expect(marker.startColumn).toBe(3)
  })

  it('keeps a line past the end of the text inside the text', () => {
    const marker = violationMarker({ message: 'late', line: 99, column: 1 }, 8, SOURCE.length, read)
    expect(marker.startLineNumber).toBe(SOURCE.length)
  })

  it('marks every violation of every result, the constraints text when a result has no violation, and warnings', () => {
    const markers = validationMarkers(
      [
        { index: 0, violations: [{ message: 'a', line: 2, column: 1 }, { message: 'b', line: 6, column: 5 }] },
        { index: 1, constraints: 'unparsable YAML', violations: [], warnings: ['deprecated task'] },
      ],
      SEVERITIES,
      SOURCE.length,
      read,
    )
    expect(markers.map((m) => [m.message, m.startLineNumber, m.severity])).toEqual([
      ['a', 2, 8],
      ['b', 6, 8],
      ['unparsable YAML', 1, 8],
      ['deprecated task', 1, 4],
    ])
  })
})
