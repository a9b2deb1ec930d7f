import { describe, expect, it } from 'vitest'
import { formatRatio } from '../../src/lib/dashboard'
import { localInputToIso, rangeDates, rangeOf } from '../../src/lib/timeRange'

describe('the dashboard figures', () => {
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
