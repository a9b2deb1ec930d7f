// The daily histogram's data: the stats endpoint's buckets turned into one dataset per state (the
// stacked bars), days without executions kept as zeros so the axis has no holes.

export interface DailyBucket {
  startDate?: string
  start?: string
  date?: string
  day?: string
  executionCounts?: Record<string, number>
  counts?: Record<string, number>
}

export interface Histogram {
  days: string[]
  series: { state: string; counts: number[] }[]
  total: number
}

// Bottom to top of each stack: the states a person looks for first sit on the axis.
const ORDER = ['FAILED', 'KILLED', 'WARNING', 'SUCCESS', 'RUNNING', 'PAUSED', 'CREATED', 'QUEUED', 'RETRIED', 'CANCELLED', 'SKIPPED']

const dayOf = (bucket: DailyBucket): string => (bucket.startDate ?? bucket.start ?? bucket.date ?? bucket.day ?? '').slice(0, 10)

export function histogramOf(buckets: readonly DailyBucket[]): Histogram {
  const days = [...new Set(buckets.map(dayOf).filter(Boolean))].sort()
  const states = new Set<string>()
  const perDay = new Map<string, Record<string, number>>()
  for (const bucket of buckets) {
    const counts = bucket.executionCounts ?? bucket.counts ?? {}
    const day = dayOf(bucket)
    const into = perDay.get(day) ?? {}
    for (const [state, count] of Object.entries(counts)) {
      if (!count) continue
      states.add(state)
      into[state] = (into[state] ?? 0) + count
    }
    perDay.set(day, into)
  }
  const ordered = [...states].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
  const series = ordered.map((state) => ({ state, counts: days.map((day) => perDay.get(day)?.[state] ?? 0) }))
  const total = series.reduce((sum, s) => sum + s.counts.reduce((a, b) => a + b, 0), 0)
  return { days, series, total }
}

function rank(state: string): number {
  const index = ORDER.indexOf(state)
  return index < 0 ? ORDER.length : index
}
