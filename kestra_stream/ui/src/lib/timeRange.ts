// The time ranges a page offers ("last 7 days"...) turned into the dates the API filters on.
// Pure: `now` is given, so a range is the same whatever the clock says when it is tested.

export interface TimeRange {
  key: string
  label: string
  ms: number
}

const HOUR = 3_600_000
const DAY = 24 * HOUR

export const TIME_RANGES: TimeRange[] = [
  { key: '1h', label: 'Last hour', ms: HOUR },
  { key: '24h', label: 'Last 24 hours', ms: DAY },
  { key: '7d', label: 'Last 7 days', ms: 7 * DAY },
  { key: '30d', label: 'Last 30 days', ms: 30 * DAY },
  { key: '90d', label: 'Last 90 days', ms: 90 * DAY },
]

export const DEFAULT_RANGE = '7d'

export function rangeOf(key: string | undefined | null): TimeRange {
  return TIME_RANGES.find((r) => r.key === key) ?? (TIME_RANGES.find((r) => r.key === DEFAULT_RANGE) as TimeRange)
}

/** The range ending at `now`: ISO-8601 dates in UTC, as the API reads them. */
export function rangeDates(key: string | undefined | null, now: Date): { startDate: string; endDate: string } {
  const range = rangeOf(key)
  return { startDate: new Date(now.getTime() - range.ms).toISOString(), endDate: now.toISOString() }
}

/** A `datetime-local` input's value (local time, no zone) as an ISO-8601 instant; '' stays undefined. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}
