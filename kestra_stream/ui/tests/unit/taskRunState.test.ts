import { describe, expect, it } from 'vitest'
import type { Execution, TaskRun } from '../../src/api/types'
import { changeableRuns, runLabel, stateChoices } from '../../src/lib/taskRunState'

const state = (current: string) => ({ current, histories: [{ state: current, date: '2026-01-01T00:00:00Z' }] })
const run = (id: string, current: string, value?: string): TaskRun => ({ id, taskId: `task_${id}`, state: state(current), value })
const execution = (current: string, runs: TaskRun[]): Execution =>
  ({ id: 'e1', namespace: 'n', flowId: 'f', flowRevision: 1, state: state(current), taskRunList: runs })

describe('changeableRuns', () => {
  it('offers every task run of an ended execution', () => {
    const runs = [run('a', 'SUCCESS'), run('b', 'FAILED'), run('c', 'SKIPPED')]
    expect(changeableRuns(execution('FAILED', runs))).toEqual(runs)
  })

  it('offers none while the execution runs, or while an afterExecution task run has not ended', () => {
    expect(changeableRuns(execution('RUNNING', [run('a', 'FAILED')]))).toEqual([])
    expect(changeableRuns(execution('PAUSED', [run('a', 'PAUSED')]))).toEqual([])
    expect(changeableRuns(execution('SUCCESS', [run('a', 'SUCCESS'), run('after', 'RUNNING')]))).toEqual([])
  })
})

describe('stateChoices', () => {
  it('gives SUCCESS, WARNING and FAILED but the state the run is already in', () => {
    expect(stateChoices(run('a', 'FAILED'))).toEqual(['SUCCESS', 'WARNING'])
    expect(stateChoices(run('a', 'SUCCESS'))).toEqual(['WARNING', 'FAILED'])
    expect(stateChoices(run('a', 'KILLED'))).toEqual(['SUCCESS', 'WARNING', 'FAILED'])
  })

  it('gives nothing before a task run is chosen', () => {
    expect(stateChoices(undefined)).toEqual([])
  })
})

describe('runLabel', () => {
  it('names the task, the iteration value when there is one, and the current state', () => {
    expect(runLabel(run('a', 'FAILED'))).toBe('task_a (FAILED)')
    expect(runLabel(run('a', 'SUCCESS', 'x'))).toBe('task_a [x] (SUCCESS)')
  })
})
