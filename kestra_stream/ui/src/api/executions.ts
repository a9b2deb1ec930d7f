// The executions API the executions list and the execution page use (Kestra's paths).
import { API, ApiError, getJson, query, request, sendJson } from './client'
import { serves } from './capabilities'
import type { Execution, Flow, FlowGraph, PagedResults } from './types'
import type { LogLine } from '../lib/logGroups'
import type { DailyBucket } from '../lib/dailyStats'

const enc = encodeURIComponent
const one = (id: string) => `${API}/executions/${enc(id)}`

export type BulkAction = 'kill' | 'restart' | 'replay' | 'delete'

// Kestra's bulk paths: kill and delete are DELETEs, restart and replay POSTs; the body is the ids.
const BULK: Record<BulkAction, { method: string; path: string }> = {
  kill: { method: 'DELETE', path: '/executions/kill/by-ids' },
  delete: { method: 'DELETE', path: '/executions/by-ids' },
  restart: { method: 'POST', path: '/executions/restart/by-ids' },
  replay: { method: 'POST', path: '/executions/replay/by-ids' },
}

// One execution at a time, for a server without the bulk endpoint.
const SINGLE: Record<BulkAction, (id: string) => Promise<unknown>> = {
  kill: (id) => request(`${one(id)}/kill`, { method: 'DELETE' }),
  delete: (id) => request(one(id), { method: 'DELETE' }),
  restart: (id) => sendJson(`${one(id)}/restart`, 'POST', null),
  replay: (id) => sendJson(`${one(id)}/replay`, 'POST', null),
}

/** Runs `action` on every id; the ids it failed on are named in one readable error. */
async function bulk(action: BulkAction, ids: string[]): Promise<number> {
  const { method, path } = BULK[action]
  if (await serves(method, path)) {
    const answer = await sendJson<{ count?: number } | null>(`${API}${path}`, method, ids)
    return answer?.count ?? ids.length
  }
  const results = await Promise.allSettled(ids.map((id) => SINGLE[action](id)))
  const failed = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`${ids[index]}: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`] : [])
  if (failed.length) throw new ApiError(`${action} failed for ${failed.length} of ${ids.length}:\n${failed.join('\n')}`, 0)
  return ids.length
}

export interface FilePreview {
  extension: string
  content: string[] | string
  truncated?: boolean
}

export const executionApi = {
  search: (queryString: string) => getJson<PagedResults<Execution>>(`${API}/executions/search?${queryString}`),
  get: (id: string) => getJson<Execution>(one(id)),
  bulk,
  daily: async (filters: URLSearchParams) => {
    if (!(await serves('GET', '/stats/executions/daily'))) {
      throw new ApiError('This server does not serve GET /api/v1/stats/executions/daily: the histogram cannot be drawn', 404)
    }
    return getJson<DailyBucket[]>(`${API}/stats/executions/daily?${filters.toString()}`)
  },
  // Executions per state for the same filters; null from a server without the endpoint.
  countByState: async (filters: URLSearchParams) =>
    (await serves('GET', '/stats/executions/count-by-state'))
      ? getJson<{ counts: Record<string, number>; total: number }>(`${API}/stats/executions/count-by-state?${filters.toString()}`)
      : null,
  // The topology and the flow as they were at the execution's revision: the execution's own endpoints
  // when served, else the flow's at that revision (the same for an execution without subflows).
  graph: async (execution: Execution) =>
    (await serves('GET', '/executions/{executionId}/graph'))
      ? getJson<FlowGraph>(`${one(execution.id)}/graph`)
      : getJson<FlowGraph>(`${API}/flows/${enc(execution.namespace)}/${enc(execution.flowId)}/graph${query({ revision: execution.flowRevision })}`),
  flow: async (execution: Execution) =>
    (await serves('GET', '/executions/{executionId}/flow'))
      ? getJson<Flow>(`${one(execution.id)}/flow`)
      : getJson<Flow>(`${API}/flows/${enc(execution.namespace)}/${enc(execution.flowId)}${query({ revision: execution.flowRevision, source: 'true' })}`),
  canChangeTaskRunState: () => serves('POST', '/executions/{executionId}/state'),
  logs: (id: string) => getJson<LogLine[]>(`${API}/logs/${enc(id)}`),
  logsDownloadUrl: (id: string) => `${API}/logs/${enc(id)}/download`,
  kill: (id: string) => request(`${one(id)}/kill`, { method: 'DELETE' }),
  pause: (id: string) => request(`${one(id)}/pause`, { method: 'POST' }),
  resume: (id: string, form: FormData) => request(`${one(id)}/resume`, { method: 'POST', body: form }),
  restart: (id: string) => sendJson<Execution>(`${one(id)}/restart`, 'POST', null),
  replay: (id: string, taskRunId?: string) =>
    sendJson<Execution>(`${one(id)}/replay${query({ taskRunId })}`, 'POST', null),
  setLabels: (id: string, labels: { key: string; value: string }[]) => sendJson<Execution>(`${one(id)}/labels`, 'POST', labels),
  setTaskRunState: (id: string, taskRunId: string, state: string) =>
    sendJson<Execution>(`${one(id)}/state`, 'POST', { taskRunId, state }),
  preview: (id: string, path: string) => getJson<FilePreview>(`${one(id)}/file/preview${query({ path, maxRows: 100 })}`),
  fileUrl: (id: string, path: string) => `${one(id)}/file${query({ path })}`,
  followUrl: (id: string) => `${one(id)}/follow`,
  followLogsUrl: (id: string) => `${API}/logs/${enc(id)}/follow`,
}

/**
 * Follows server-sent events of `url`: each `data:` is parsed as JSON and handed to `onEvent`. The
 * stream ends on its own (the server closes it when the execution ends): it is then closed here, so
 * the browser does not reconnect. Returns the function that stops following.
 */
export function follow<T>(url: string, onEvent: (value: T) => void, onEnd: (error: string | null) => void): () => void {
  const source = new EventSource(url)
  let done = false
  const finish = (error: string | null) => {
    if (done) return
    done = true
    source.close()
    onEnd(error)
  }
  source.onmessage = (event: MessageEvent<string>) => {
    try {
      onEvent(JSON.parse(event.data) as T)
    } catch {
      // A keep-alive or a non-JSON frame carries nothing to show.
    }
  }
  source.onerror = () => {
    // CLOSED: the server refused (e.g. 404); CONNECTING: it ended the stream after the last event.
    finish(source.readyState === EventSource.CLOSED ? `following ${url} failed` : null)
  }
  return () => finish(null)
}
