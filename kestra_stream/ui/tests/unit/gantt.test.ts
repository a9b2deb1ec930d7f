import { describe, expect, it } from 'vitest'
import type { Execution, StateHistory, TaskRun } from '../../src/api/types'
import { ganttOf, percentAt, segmentsOf, type TaskRunRow } from '../../src/lib/gantt'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString()
const states = (...steps: [string, number][]): StateHistory[] => steps.map(([state, s]) => ({ state, date: at(s) }))
const state = (...steps: [string, number][]) => ({ current: steps.at(-1)?.[0] ?? 'CREATED', histories: states(...steps) })

function run(id: string, taskId: string, extra: Partial<TaskRun> & { steps: [string, number][] }): TaskRun {
  const { steps, ...rest } = extra
  return { id, taskId, state: state(...steps), ...rest }
}

function execution(runs: TaskRun[], steps: [string, number][] = [['CREATED', 0], ['RUNNING', 0], ['SUCCESS', 10]]): Execution {
  return { id: 'e1', namespace: 'n', flowId: 'f', flowRevision: 1, state: state(...steps), taskRunList: runs }
}

describe('segmentsOf', () => {
  it('gives one segment per state held, the last ending at its final state', () => {
    expect(segmentsOf(states(['CREATED', 0], ['RUNNING', 1], ['SUCCESS', 4]), T0 + 99_000)).toEqual([
      { state: 'CREATED', start: T0, end: T0 + 1000 },
      { state: 'RUNNING', start: T0 + 1000, end: T0 + 4000 },
    ])
  })

  it('runs the last state of what has not ended up to now', () => {
    expect(segmentsOf(states(['CREATED', 0], ['RUNNING', 1]), T0 + 5000).at(-1)).toEqual({ state: 'RUNNING', start: T0 + 1000, end: T0 + 5000 })
  })
})

describe('ganttOf', () => {
  it('nests children under their parent, one bar per attempt, retries counted', () => {
    const gantt = ganttOf(execution([
      run('p', 'both', { steps: [['CREATED', 0], ['RUNNING', 0], ['FAILED', 6]] }),
      run('a', 'flaky', {
        parentTaskRunId: 'p',
        steps: [['CREATED', 0], ['RUNNING', 1], ['RETRYING', 2], ['RUNNING', 3], ['FAILED', 4]],
        attempts: [{ state: state(['RUNNING', 1], ['FAILED', 2]) }, { state: state(['RUNNING', 3], ['FAILED', 4]) }],
      }),
      run('b', 'fine', { parentTaskRunId: 'p', steps: [['CREATED', 0], ['RUNNING', 1], ['SUCCESS', 5]] }),
    ]), T0 + 60_000)
    const rows = gantt.rows as TaskRunRow[]
    expect(rows.map((r) => [r.taskId, r.depth])).toEqual([['both', 0], ['flaky', 1], ['fine', 1]])
    const flaky = rows[1]!
    expect(flaky.retries).toBe(1)
    expect(flaky.attempts.map((a) => [a.number, a.state, a.start - T0, a.end - T0])).toEqual([[1, 'FAILED', 1000, 2000], [2, 'FAILED', 3000, 4000]])
    expect(gantt.start).toBe(T0)
    expect(gantt.end).toBe(T0 + 10_000)
  })

  it('groups the runs of an iterating parent under one row per value, named after its worst state', () => {
    const gantt = ganttOf(execution([
      run('each', 'each', { steps: [['CREATED', 0], ['RUNNING', 0], ['FAILED', 5]] }),
      run('s1', 'step', { parentTaskRunId: 'each', value: 'a', steps: [['CREATED', 1], ['RUNNING', 1], ['SUCCESS', 2]] }),
      run('t1', 'after', { parentTaskRunId: 'each', value: 'a', steps: [['CREATED', 2], ['RUNNING', 2], ['SUCCESS', 3]] }),
      run('s2', 'step', { parentTaskRunId: 'each', value: 'b', steps: [['CREATED', 1], ['RUNNING', 1], ['FAILED', 4]] }),
    ]), T0)
    expect(gantt.rows.map((r) => (r.kind === 'iteration' ? `[${r.value}:${r.state}]@${r.depth}` : `${r.taskId}@${r.depth}`)))
      .toEqual(['each@0', '[a:SUCCESS]@1', 'step@2', 'after@2', '[b:FAILED]@1', 'step@2'])
    const b = gantt.rows[4]!
    expect([b.start - T0, b.end - T0]).toEqual([1000, 4000])
  })

  it('keeps what still runs open up to now, and a task run whose parent is unknown at the top', () => {
    const now = T0 + 30_000
    const gantt = ganttOf(execution([run('x', 'slow', { parentTaskRunId: 'gone', steps: [['CREATED', 0], ['RUNNING', 2]] })], [['CREATED', 0], ['RUNNING', 0]]), now)
    const row = gantt.rows[0] as TaskRunRow
    expect(row.depth).toBe(0)
    expect(row.end).toBe(now)
    expect(gantt.end).toBe(now)
    expect(percentAt(gantt, T0 + 15_000)).toBe(50)
  })
})
