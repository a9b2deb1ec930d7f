// The executions list's filters: kept in the page's address (so a filtered list can be shared and
// survives a reload) and turned into the search API's query string. Pure: `now` anchors relative
// time ranges.

// What started an execution, as the search API's `triggeredBy` names it, with the words the filter shows.
export const TRIGGER_KINDS = ['SCHEDULE', 'WEBHOOK', 'FLOW', 'REALTIME', 'POLLING', 'SUBFLOW', 'MANUAL'] as const
export type TriggerKind = (typeof TRIGGER_KINDS)[number]
export const TRIGGER_KIND_LABELS: Record<TriggerKind, string> = {
  SCHEDULE: 'schedule', WEBHOOK: 'webhook', FLOW: 'flow trigger', REALTIME: 'realtime', POLLING: 'polling',
  SUBFLOW: 'subflow', MANUAL: 'manual / API',
}
const isTriggerKind = (kind: string): kind is TriggerKind => (TRIGGER_KINDS as readonly string[]).includes(kind)

// Relative ranges, as ISO-8601 durations (Kestra's `timeRange`), with their length in ms.
export const RELATIVE_RANGES: Record<string, { label: string; ms: number }> = {
  PT5M: { label: 'Last 5 minutes', ms: 5 * 60_000 },
  PT1H: { label: 'Last hour', ms: 3_600_000 },
  PT24H: { label: 'Last 24 hours', ms: 86_400_000 },
  P7D: { label: 'Last 7 days', ms: 7 * 86_400_000 },
  P30D: { label: 'Last 30 days', ms: 30 * 86_400_000 },
}

export const SORTABLE = ['state.startDate', 'state.endDate', 'state.duration', 'id', 'namespace', 'flowId', 'state.current'] as const
export type SortField = (typeof SORTABLE)[number]

export interface ExecutionFilters {
  q: string
  namespace: string
  flowId: string
  states: string[]
  labels: string[]
  timeRange: string
  startDate: string
  endDate: string
  triggeredBy: TriggerKind[]
  sort: SortField
  desc: boolean
  page: number
  size: number
}

export function defaultFilters(): ExecutionFilters {
  return {
    q: '', namespace: '', flowId: '', states: [], labels: [], timeRange: '', startDate: '', endDate: '',
    triggeredBy: [], sort: 'state.startDate', desc: true, page: 1, size: 25,
  }
}

type RouteQuery = Record<string, string | null | (string | null)[] | undefined>

const list = (value: RouteQuery[string]): string[] =>
  (Array.isArray(value) ? value : value == null ? [] : [value]).filter((v): v is string => !!v)
const one = (value: RouteQuery[string]): string => list(value)[0] ?? ''
const positive = (value: RouteQuery[string], fallback: number): number => {
  const number = Number.parseInt(one(value), 10)
  return Number.isFinite(number) && number > 0 ? number : fallback
}

export function filtersFromRoute(query: RouteQuery): ExecutionFilters {
  const base = defaultFilters()
  const [field, direction] = one(query.sort).split(':')
  const known = (SORTABLE as readonly string[]).includes(field ?? '')
  return {
    q: one(query.q),
    namespace: one(query.namespace),
    flowId: one(query.flowId),
    states: list(query.state),
    labels: list(query.labels),
    timeRange: one(query.timeRange) in RELATIVE_RANGES ? one(query.timeRange) : '',
    startDate: one(query.startDate),
    endDate: one(query.endDate),
    // Upper-cased: addresses written before the kinds were the API's (`triggeredBy=schedule`) still filter.
    triggeredBy: [...new Set(list(query.triggeredBy).map((kind) => kind.toUpperCase()))].filter(isTriggerKind),
    sort: known ? (field as SortField) : base.sort,
    desc: known ? direction !== 'asc' : base.desc,
    page: positive(query.page, base.page),
    size: positive(query.size, base.size),
  }
}

/** The address's query: only what differs from the defaults. */
export function filtersToRoute(filters: ExecutionFilters): Record<string, string | string[]> {
  const base = defaultFilters()
  const out: Record<string, string | string[]> = {}
  for (const key of ['q', 'namespace', 'flowId', 'timeRange', 'startDate', 'endDate'] as const) {
    if (filters[key]) out[key] = filters[key]
  }
  if (filters.states.length) out.state = [...filters.states]
  if (filters.labels.length) out.labels = [...filters.labels]
  if (filters.triggeredBy.length) out.triggeredBy = [...filters.triggeredBy]
  if (filters.sort !== base.sort || filters.desc !== base.desc) out.sort = `${filters.sort}:${filters.desc ? 'desc' : 'asc'}`
  if (filters.page !== base.page) out.page = String(filters.page)
  if (filters.size !== base.size) out.size = String(filters.size)
  return out
}

function iso(value: string): string {
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? value : date.toISOString()
}

/** The start and end the search API is given: a relative range wins over absolute dates. */
export function dateBounds(filters: ExecutionFilters, now: number): { startDate?: string; endDate?: string } {
  const relative = RELATIVE_RANGES[filters.timeRange]
  if (relative) return { startDate: new Date(now - relative.ms).toISOString() }
  return {
    ...(filters.startDate ? { startDate: iso(filters.startDate) } : {}),
    ...(filters.endDate ? { endDate: iso(filters.endDate) } : {}),
  }
}

/** The filters every executions endpoint reads (the search, the stats): lists as repeated keys, as Kestra reads them. */
export function filterParams(filters: ExecutionFilters, now: number): URLSearchParams {
  const params = new URLSearchParams()
  if (filters.q.trim()) params.set('q', filters.q.trim())
  if (filters.namespace) params.set('namespace', filters.namespace)
  if (filters.flowId) params.set('flowId', filters.flowId)
  for (const state of filters.states) params.append('state', state)
  for (const label of filters.labels) params.append('labels', label)
  for (const kind of filters.triggeredBy) params.append('triggeredBy', kind)
  const { startDate, endDate } = dateBounds(filters, now)
  if (startDate) params.set('startDate', startDate)
  if (endDate) params.set('endDate', endDate)
  return params
}

/** The query string of GET /api/v1/executions/search: the filters, the sort and the page. */
export function searchQuery(filters: ExecutionFilters, now: number): string {
  const params = filterParams(filters, now)
  params.set('sort', `${filters.sort}:${filters.desc ? 'desc' : 'asc'}`)
  params.set('page', String(filters.page))
  params.set('size', String(filters.size))
  return params.toString()
}

/** A label typed as `key:value` (or `key=value`); null when it is not one. */
export function parseLabel(text: string): string | null {
  const match = /^\s*([^:=\s][^:=]*?)\s*[:=]\s*(.*?)\s*$/.exec(text)
  return match ? `${match[1]}:${match[2]}` : null
}
