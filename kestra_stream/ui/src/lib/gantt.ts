// The Gantt of an execution, derived from its task runs' state histories: one row per task run (in
// the tree of parents), one bar per attempt, a header row per iteration value of a ForEach-like
// parent. Pure: `now` closes the bars of what is still running.
import type { Execution, StateHistory, TaskRun } from '../api/types'
import { FINAL_STATES } from './states'

export interface Segment {
  state: string
  start: number
  end: number
}

export interface AttemptBar {
  number: number
  state: string
  start: number
  end: number
  segments: Segment[]
}

export interface TaskRunRow {
  kind: 'taskrun'
  id: string
  taskId: string
  value: string | null
  depth: number
  state: string
  start: number
  end: number
  segments: Segment[]
  attempts: AttemptBar[]
  retries: number
}

export interface IterationRow {
  kind: 'iteration'
  id: string
  parentId: string
  value: string
  depth: number
  state: string
  start: number
  end: number
}

export type GanttRow = TaskRunRow | IterationRow

export interface Gantt {
  start: number
  end: number
  rows: GanttRow[]
}

const time = (date: string) => new Date(date).getTime()

/** One segment per state held: from its date to the next state's date (or `now` while not ended). */
export function segmentsOf(histories: readonly StateHistory[], now: number): Segment[] {
  const segments: Segment[] = []
  histories.forEach((entry, index) => {
    const next = histories[index + 1]
    if (!next && FINAL_STATES.has(entry.state)) return
    const start = time(entry.date)
    const end = next ? time(next.date) : Math.max(now, start)
    segments.push({ state: entry.state, start, end })
  })
  return segments
}

function span(histories: readonly StateHistory[], current: string, now: number): { start: number; end: number } {
  const first = histories[0]
  const last = histories.at(-1)
  const start = first ? time(first.date) : now
  const end = last && FINAL_STATES.has(current) ? time(last.date) : Math.max(now, start)
  return { start, end }
}

function rowOf(run: TaskRun, depth: number, now: number): TaskRunRow {
  const { start, end } = span(run.state.histories, run.state.current, now)
  const attempts = (run.attempts ?? []).map((attempt, index): AttemptBar => {
    const bounds = span(attempt.state.histories, attempt.state.current, now)
    return { number: index + 1, state: attempt.state.current, ...bounds, segments: segmentsOf(attempt.state.histories, now) }
  })
  return {
    kind: 'taskrun',
    id: run.id,
    taskId: run.taskId,
    value: run.value ?? null,
    depth,
    state: run.state.current,
    start,
    end,
    segments: segmentsOf(run.state.histories, now),
    attempts,
    retries: Math.max(0, attempts.length - 1),
  }
}

// The worst state of an iteration's runs names the iteration: a failure shows through.
const SEVERITY = ['FAILED', 'KILLED', 'KILLING', 'WARNING', 'RUNNING', 'RETRYING', 'PAUSED', 'CREATED', 'SUCCESS']
export function worstState(states: string[]): string {
  for (const state of SEVERITY) if (states.includes(state)) return state
  return states[0] ?? 'CREATED'
}

export function ganttOf(execution: Execution, now: number): Gantt {
  const runs = execution.taskRunList ?? []
  const known = new Set(runs.map((run) => run.id))
  const children = new Map<string | null, TaskRun[]>()
  for (const run of runs) {
    const parent = run.parentTaskRunId && known.has(run.parentTaskRunId) ? run.parentTaskRunId : null
    const list = children.get(parent) ?? []
    list.push(run)
    children.set(parent, list)
  }
  const rows: GanttRow[] = []

  function emit(parent: string | null, depth: number): void {
    const kids = children.get(parent) ?? []
    const parentRun = parent ? runs.find((run) => run.id === parent) : undefined
    // Children whose value differs from their parent's are iterations of it (ForEach, EachSequential ...).
    const iterating = parentRun !== undefined && kids.some((kid) => kid.value != null && kid.value !== parentRun.value)
    if (!iterating) {
      for (const kid of kids) {
        rows.push(rowOf(kid, depth, now))
        emit(kid.id, depth + 1)
      }
      return
    }
    const byValue = new Map<string, TaskRun[]>()
    for (const kid of kids) {
      const key = kid.value ?? ''
      byValue.set(key, [...(byValue.get(key) ?? []), kid])
    }
    for (const [value, group] of byValue) {
      const own = group.map((kid) => rowOf(kid, depth + 1, now))
      rows.push({
        kind: 'iteration',
        id: `${parent}:${value}`,
        parentId: parent ?? '',
        value,
        depth,
        state: worstState(own.map((row) => row.state)),
        start: Math.min(...own.map((row) => row.start)),
        end: Math.max(...own.map((row) => row.end)),
      })
      group.forEach((kid, index) => {
        rows.push(own[index] as TaskRunRow)
        emit(kid.id, depth + 2)
      })
    }
  }
  emit(null, 0)

  const own = span(execution.state.histories, execution.state.current, now)
  const start = Math.min(own.start, ...rows.map((row) => row.start))
  const end = Math.max(own.end, ...rows.map((row) => row.end), start + 1)
  return { start, end, rows }
}

/** Where a moment lies on the chart, in percent of its width. */
export function percentAt(gantt: Gantt, moment: number): number {
  return ((moment - gantt.start) / (gantt.end - gantt.start)) * 100
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const seconds = ms / 1000
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}
