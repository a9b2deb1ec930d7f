import { describe, expect, it } from 'vitest'
import { bucketLabel, dailyChart, formatRatio } from '../../src/lib/dashboard'
import { localInputToIso, rangeDates, rangeOf } from '../../src/lib/timeRange'

describe('the dashboard chart', () => {
  it('stacks one series per state seen, failures at the bottom, days in order', () => {
    const chart = dailyChart([
      { startDate: '2026-12-02T00:00:00Z', groupBy: 'day', executionCounts: { SUCCESS: 3, FAILED: 0, RUNNING: 1 } },
      { startDate: '2026-12-01T00:00:00Z', groupBy: 'day', executionCounts: { SUCCESS: 1, FAILED: 2, RUNNING: 0 } },
    ])
    expect(chart.labels).toEqual(['2026-12-01', '2026-12-02'])
    expect(chart.interval).toBe('day')
    expect(chart.series).toEqual([
      { state: 'FAILED', counts: [2, 0] },
      { state: 'SUCCESS', counts: [1, 3] },
      { state: 'RUNNING', counts: [0, 1] },
    ])
    expect(chart.total).toBe(7)
  })

  it('leaves out states with no execution and totals zero for an empty range', () => {
    const chart = dailyChart([{ startDate: '2026-12-01T00:00:00Z', executionCounts: { SUCCESS: 0, KILLED: 0 } }])
    expect(chart.series).toEqual([])
    expect(chart.total).toBe(0)
  })

  it('labels hourly intervals with their time, daily ones with their day', () => {
    expect(bucketLabel('2026-12-01T13:00:00Z', 'hour')).toBe('2026-12-01 13:00')
    expect(bucketLabel('2026-12-01T00:00:00Z', 'day')).toBe('2026-12-01')
  })

  it('writes the failure ratio as a percentage, and a dash when nothing ended', () => {
    expect(formatRatio(0.125)).toBe('12.5%')
    expect(formatRatio(0.5)).toBe('50%')
    expect(formatRatio(0)).toBe('0%')
    expect(formatRatio(null)).toBe('—')
  })
})

describe('time ranges', () => {
  const now = new Date('2026-12-03T12:00:00Z')

  it('end at the instant given and start the range before it', () => {
    expect(rangeDates('24h', now)).toEqual({ startDate: '2026-12-02T12:00:00.000Z', endDate: '2026-12-03T12:00:00.000Z' })
    expect(rangeDates('7d', now).startDate).toBe('2026-11-26T12:00:00.000Z')
  })

  it('fall back to the default range for an unknown key', () => {
    expect(rangeOf('forever').key).toBe('7d')
  })

  it('read a datetime-local value as local time, and a blank one as none', () => {
    expect(localInputToIso('')).toBeUndefined()
    expect(localInputToIso('2026-12-01T10:30')).toBe(new Date(2026, 11, 1, 10, 30).toISOString())
  })
})
