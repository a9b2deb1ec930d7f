import { describe, expect, it } from 'vitest'
import type { TaskRun } from '../../src/api/types'
import { groupLogs, groupTitle, keepsLine, type LogLine } from '../../src/lib/logGroups'

const line = (message: string, level = 'INFO', taskRunId: string | null = null, attemptNumber: number | null = null): LogLine =>
  ({ message, level, taskRunId, attemptNumber, timestamp: '2026-01-01T00:00:00Z' })
const RUNS: TaskRun[] = [
  { id: 'r1', taskId: 'flaky', state: { current: 'FAILED', histories: [] } },
  { id: 'r2', taskId: 'step', value: 'b', state: { current: 'SUCCESS', histories: [] } },
]
const ALL = { minLevel: 'TRACE', search: '' }

describe('groupLogs', () => {
  it('makes one group per task run and attempt, the execution\'s own lines first', () => {
    const groups = groupLogs([
      line('try 1', 'ERROR', 'r1', 1), line('starting'), line('b', 'INFO', 'r2', 1), line('try 2', 'ERROR', 'r1', 2), line('again', 'WARN', 'r1', 1),
    ], RUNS, ALL)
    expect(groups.map((g) => [groupTitle(g), g.lines.map((l) => l.message)])).toEqual([
      ['Execution', ['starting']],
      ['flaky · attempt 1', ['try 1', 'again']],
      ['step [b] · attempt 1', ['b']],
      ['flaky · attempt 2', ['try 2']],
    ])
  })

  it('drops lines under the level and without the searched words, then the groups left empty', () => {
    const lines = [line('debug noise', 'DEBUG', 'r1', 1), line('Disk FULL', 'ERROR', 'r2', 1), line('full stop', 'INFO')]
    expect(groupLogs(lines, RUNS, { minLevel: 'WARN', search: '' }).map((g) => g.taskId)).toEqual(['step'])
    expect(groupLogs(lines, RUNS, { minLevel: 'TRACE', search: ' full ' }).map((g) => g.lines.map((l) => l.message))).toEqual([['full stop'], ['Disk FULL']])
  })

  it('counts a line without an attempt number as the first attempt, and names a task run it does not know by the line\'s task id', () => {
    const [group] = groupLogs([{ ...line('x', 'INFO', 'r9'), taskId: 'late' }], RUNS, ALL)
    expect(groupTitle(group!)).toBe('late · attempt 1')
    expect(keepsLine(line('x', 'warn'), { minLevel: 'WARN', search: '' })).toBe(true)
  })
})
