// The dashboard's aggregations (`/stats/executions/*`): counts from the search index, never pages of executions.
import { API, getJson, query } from './client'
import type { DailyBucket } from '../lib/dailyStats'
import type { Execution, PagedResults } from './types'

export interface CountByState {
  counts: Record<string, number>
  total: number
  failureRatio: number | null
}

export interface FlowCount {
  namespace: string
  flowId: string
  total: number
  counts: Record<string, number>
}

export interface StatsFilter {
  startDate: string
  endDate: string
  namespace?: string
}

export const statsApi = {
  daily: (filter: StatsFilter & { groupBy?: 'day' | 'hour' }) =>
    getJson<DailyBucket[]>(`${API}/stats/executions/daily${query({ ...filter })}`),
  countByState: (filter: StatsFilter) =>
    getJson<CountByState>(`${API}/stats/executions/count-by-state${query({ ...filter })}`),
  mostRunFlows: (filter: StatsFilter, size = 5) =>
    getJson<FlowCount[]>(`${API}/stats/executions/most-run-flows${query({ ...filter, size })}`),
  latestFailed: (filter: StatsFilter, size = 5) =>
    getJson<PagedResults<Execution>>(
      `${API}/executions/search${query({ ...filter, state: 'FAILED', size, sort: 'state.startDate:desc' })}`,
    ),
}
