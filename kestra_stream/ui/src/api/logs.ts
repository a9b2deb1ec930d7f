// Log search across executions (`/logs/search`).
import { API, getJson, query } from './client'
import type { PagedResults } from './types'

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR'
export const LOG_LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']

export interface LogLine {
  executionId: string
  namespace: string
  flowId: string
  taskId?: string | null
  taskRunId?: string | null
  attemptNumber?: number | null
  level: LogLevel
  message: string
  timestamp: string
}

export interface LogFilter {
  q?: string
  namespace?: string
  flowId?: string
  minLevel?: LogLevel
  startDate?: string
  endDate?: string
  page?: number
  size?: number
}

export const logsApi = {
  search: (filter: LogFilter) => getJson<PagedResults<LogLine>>(`${API}/logs/search${query({ size: 50, ...filter })}`),
}
