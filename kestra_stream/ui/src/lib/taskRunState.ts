// Kestra's "change status" of a task run: which runs of an ended execution may be changed, and to what.
// The server checks the same (POST /executions/{id}/state); the page only offers what it would accept.
import type { Execution, TaskRun } from '../api/types'
import { FINAL_STATES } from './states'

export const CHANGEABLE_STATES = ['SUCCESS', 'WARNING', 'FAILED'] as const

/** The task runs whose state can be changed: every one, once the execution and all its runs have ended. */
export function changeableRuns(execution: Execution): TaskRun[] {
  const runs = execution.taskRunList ?? []
  const ended = FINAL_STATES.has(execution.state.current) && runs.every((run) => FINAL_STATES.has(run.state.current))
  return ended ? runs : []
}

/** The states `run` can be given: the changeable ones it is not already in. */
export function stateChoices(run: TaskRun | undefined): string[] {
  return run ? CHANGEABLE_STATES.filter((state) => state !== run.state.current) : []
}

/** How a task run is named in the choice and the confirmation: its task, its value, its state. */
export function runLabel(run: TaskRun): string {
  return `${run.taskId}${run.value ? ` [${run.value}]` : ''} (${run.state.current})`
}
