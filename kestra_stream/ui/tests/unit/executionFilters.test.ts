import { describe, expect, it } from 'vitest'
import { defaultFilters, filterParams, filtersFromRoute, filtersToRoute, parseLabel, searchQuery } from '../../src/lib/executionFilters'
import { histogramOf } from '../../src/lib/dailyStats'

const NOW = Date.parse('2026-03-10T12:00:00Z')

describe('searchQuery', () => {
  it('sends every filter the way Kestra reads it: lists as repeated keys, a relative range as a start date', () => {
    const query = new URLSearchParams(searchQuery({
      ...defaultFilters(), q: ' boom ', namespace: 'company.team', flowId: 'etl', states: ['FAILED', 'KILLED'],
      labels: ['env:prod', 'team:data'], timeRange: 'PT1H', triggeredBy: ['SCHEDULE'], sort: 'state.duration', desc: false, page: 3, size: 50,
    }, NOW))
    expect(query.get('q')).toBe('boom')
    expect(query.get('namespace')).toBe('company.team')
    expect(query.get('flowId')).toBe('etl')
    expect(query.getAll('state')).toEqual(['FAILED', 'KILLED'])
    expect(query.getAll('labels')).toEqual(['env:prod', 'team:data'])
    expect(query.getAll('triggeredBy')).toEqual(['SCHEDULE'])
    expect(query.get('startDate')).toBe('2026-03-10T11:00:00.000Z')
    expect(query.has('endDate')).toBe(false)
    expect(query.get('sort')).toBe('state.duration:asc')
    expect([query.get('page'), query.get('size')]).toEqual(['3', '50'])
  })

  it('sends absolute dates as ISO instants and leaves empty filters out', () => {
    const query = new URLSearchParams(searchQuery({ ...defaultFilters(), startDate: '2026-03-01T00:00:00Z', endDate: '2026-03-02T00:00:00Z' }, NOW))
    expect([...query.keys()].sort()).toEqual(['endDate', 'page', 'size', 'sort', 'startDate'])
    expect(query.get('startDate')).toBe('2026-03-01T00:00:00.000Z')
    expect(query.get('sort')).toBe('state.startDate:desc')
  })
})

describe('filterParams', () => {
  it('gives the stats endpoints the same filters as the search, what started the executions too, without its sort or page', () => {
    const filters = { ...defaultFilters(), namespace: 'a', states: ['FAILED'], labels: ['k:v'], timeRange: 'PT24H', triggeredBy: ['FLOW' as const, 'MANUAL' as const], page: 4 }
    const params = filterParams(filters, NOW)
    expect([...new Set(params.keys())].sort()).toEqual(['labels', 'namespace', 'startDate', 'state', 'triggeredBy'])
    expect(params.getAll('triggeredBy')).toEqual(['FLOW', 'MANUAL'])
    expect(params.get('startDate')).toBe('2026-03-09T12:00:00.000Z')
  })
})

describe('the filters in the address', () => {
  it('survive a round trip, and the defaults are left out of it', () => {
    const filters = { ...defaultFilters(), namespace: 'a.b', states: ['FAILED'], labels: ['k:v'], timeRange: 'P7D', triggeredBy: ['WEBHOOK' as const], sort: 'id' as const, desc: false, page: 2 }
    const route = filtersToRoute(filters)
    expect(route).toEqual({ namespace: 'a.b', state: ['FAILED'], labels: ['k:v'], timeRange: 'P7D', triggeredBy: ['WEBHOOK'], sort: 'id:asc', page: '2' })
    expect(filtersFromRoute(route)).toEqual(filters)
    expect(filtersToRoute(defaultFilters())).toEqual({})
  })

  it('ignore what they do not know: a bad sort, range, trigger kind or page falls back to the default', () => {
    const filters = filtersFromRoute({ sort: 'password:asc', timeRange: 'P99Y', triggeredBy: ['mail', 'FLOW', 'schedule', 'Flow'], page: '-2', state: 'FAILED' })
    expect([filters.sort, filters.desc, filters.timeRange, filters.triggeredBy, filters.page, filters.states])
      .toEqual(['state.startDate', true, '', ['FLOW', 'SCHEDULE'], 1, ['FAILED']])
  })
})

describe('parseLabel', () => {
  it('reads key:value and key=value, and refuses text without a key', () => {
    expect(parseLabel(' env : prod ')).toBe('env:prod')
    expect(parseLabel('team=data')).toBe('team:data')
    expect(parseLabel('url:http://x')).toBe('url:http://x')
    expect(parseLabel(':x')).toBeNull()
    expect(parseLabel('nokey')).toBeNull()
  })
})

describe('histogramOf', () => {
  it('gives one stacked series per state over every day, failures at the bottom, zeros where a day lacks a state', () => {
    const histogram = histogramOf([
      { startDate: '2026-03-02T00:00:00Z', executionCounts: { SUCCESS: 3, FAILED: 0 } },
      { startDate: '2026-03-01T00:00:00Z', executionCounts: { SUCCESS: 1, FAILED: 2 } },
      { start: '2026-03-03', counts: { RUNNING: 1 } },
    ])
    expect(histogram.days).toEqual(['2026-03-01', '2026-03-02', '2026-03-03'])
    expect(histogram.series).toEqual([
      { state: 'FAILED', counts: [2, 0, 0] },
      { state: 'SUCCESS', counts: [1, 3, 0] },
      { state: 'RUNNING', counts: [0, 0, 1] },
    ])
    expect(histogram.total).toBe(7)
  })
})
