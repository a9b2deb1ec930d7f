// The log lines of an execution grouped the way the execution page shows them: one group per task
// run and attempt (in the order their first line came), the execution's own lines first; a level
// threshold and a search narrow the lines, and groups left empty are dropped.
import type { TaskRun } from '../api/types'

export interface LogLine {
  taskRunId?: string | null
  taskId?: string | null
  attemptNumber?: number | null
  level: string
  message: string
  timestamp: string
}

export interface LogGroup {
  key: string
  taskRunId: string | null
  taskId: string | null
  value: string | null
  attempt: number | null
  lines: LogLine[]
}

export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const

export function levelRank(level: string): number {
  const index = (LEVELS as readonly string[]).indexOf(level.toUpperCase())
  return index < 0 ? 0 : index
}

export interface LogFilter {
  minLevel: string
  search: string
}

export function keepsLine(line: LogLine, filter: LogFilter): boolean {
  if (levelRank(line.level) < levelRank(filter.minLevel)) return false
  const needle = filter.search.trim().toLowerCase()
  return !needle || line.message.toLowerCase().includes(needle)
}

export function groupLogs(lines: readonly LogLine[], runs: readonly TaskRun[], filter: LogFilter): LogGroup[] {
  const byId = new Map(runs.map((run) => [run.id, run]))
  const groups = new Map<string, LogGroup>()
  for (const line of lines) {
    if (!keepsLine(line, filter)) continue
    const runId = line.taskRunId ?? null
    const attempt = runId ? (line.attemptNumber ?? 1) : null
    const key = runId ? `${runId}#${attempt}` : 'execution'
    let group = groups.get(key)
    if (!group) {
      const run = runId ? byId.get(runId) : undefined
      group = {
        key,
        taskRunId: runId,
        taskId: run?.taskId ?? line.taskId ?? null,
        value: run?.value ?? null,
        attempt,
        lines: [],
      }
      groups.set(key, group)
    }
    group.lines.push(line)
  }
  const all = [...groups.values()]
  const execution = all.filter((group) => group.taskRunId === null)
  return [...execution, ...all.filter((group) => group.taskRunId !== null)]
}

export function groupTitle(group: LogGroup): string {
  if (!group.taskRunId) return 'Execution'
  const value = group.value ? ` [${group.value}]` : ''
  return `${group.taskId ?? group.taskRunId}${value} · attempt ${group.attempt ?? 1}`
}
