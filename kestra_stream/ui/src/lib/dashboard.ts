// The home dashboard's figures from the stats endpoints: stacked series per state for the chart,
// and the failure ratio as a person reads it.
import type { DailyStatistics } from '../api/stats'

export interface StateSeries {
  state: string
  counts: number[]
}

export interface DailyChart {
  labels: string[]
  interval: string
  series: StateSeries[]
  total: number
}

// Bottom to top of each bar: the states a person looks for first sit on the axis.
const ORDER = ['FAILED', 'KILLED', 'WARNING', 'SUCCESS', 'RUNNING', 'PAUSED', 'CREATED', 'QUEUED', 'RESTARTED', 'RETRYING', 'RETRIED', 'KILLING', 'CANCELLED', 'SKIPPED']

function rank(state: string): number {
  const index = ORDER.indexOf(state)
  return index < 0 ? ORDER.length : index
}

/** Intervals by hour show their time, longer ones their day. */
export function bucketLabel(startDate: string, groupBy: string | undefined): string {
  if (groupBy === 'minute' || groupBy === 'hour') return startDate.slice(0, 16).replace('T', ' ')
  return startDate.slice(0, 10)
}

/** One series per state that has an execution in the range (states never seen are left out). */
export function dailyChart(buckets: readonly DailyStatistics[]): DailyChart {
  const sorted = [...buckets].sort((a, b) => a.startDate.localeCompare(b.startDate))
  const states = new Set<string>()
  for (const bucket of sorted) {
    for (const [state, count] of Object.entries(bucket.executionCounts)) if (count > 0) states.add(state)
  }
  const series = [...states]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((state) => ({ state, counts: sorted.map((b) => b.executionCounts[state] ?? 0) }))
  const total = series.reduce((sum, s) => sum + s.counts.reduce((a, b) => a + b, 0), 0)
  return {
    labels: sorted.map((b) => bucketLabel(b.startDate, b.groupBy)),
    interval: sorted[0]?.groupBy ?? 'day',
    series,
    total,
  }
}

/** `0.125` → `12.5%`; no ended execution → an em dash, not a misleading 0%. */
export function formatRatio(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—'
  const percent = ratio * 100
  return `${Number.isInteger(percent) ? percent : percent.toFixed(1)}%`
}
