// The executions API the executions list and the execution page use (Kestra's paths).
import { API, getJson, query, request, sendJson } from './client'
import { serves } from './capabilities'
import type { Execution, Flow, FlowGraph, PagedResults } from './types'
import type { DailyBucket } from '../lib/dailyStats'

const enc = encodeURIComponent
const one = (id: string) => `${API}/executions/${enc(id)}`

export type BulkAction = 'kill' | 'restart' | 'replay' | 'delete'

// Kestra's bulk paths: kill and delete are DELETEs, restart and replay POSTs; the body is the ids.
const BULK: Record<BulkAction, { method: string; path: string }> = {
  kill: { method: 'DELETE', path: `${API}/executions/kill/by-ids` },
  delete: { method: 'DELETE', path: `${API}/executions/by-ids` },
  restart: { method: 'POST', path: `${API}/executions/restart/by-ids` },
  replay: { method: 'POST', path: `${API}/executions/replay/by-ids` },
}

async function bulk(action: BulkAction, ids: string[]): Promise<number> {
  const { method, path } = BULK[action]
  const answer = await sendJson<{ count: number }>(path, method, ids)
  return answer.count
}

export interface FilePreview {
  extension: string
  content: string[]
  truncated?: boolean
}

export const executionApi = {
  search: (queryString: string) => getJson<PagedResults<Execution>>(`${API}/executions/search?${queryString}`),
  get: (id: string) => getJson<Execution>(one(id)),
  bulk,
  daily: (filters: URLSearchParams) => getJson<DailyBucket[]>(`${API}/stats/executions/daily?${filters.toString()}`),
  countByState: (filters: URLSearchParams) =>
    getJson<{ counts: Record<string, number>; total: number }>(`${API}/stats/executions/count-by-state?${filters.toString()}`),
  // The topology (each task with its runs' state) and the flow at the revision the execution ran.
  graph: (id: string) => getJson<FlowGraph>(`${one(id)}/graph`),
  flow: (id: string) => getJson<Flow>(`${one(id)}/flow`),
  // Offered only by a server that serves it (Kestra's "change status" of a task run).
  canChangeTaskRunState: () => serves('POST', '/executions/{executionId}/state'),
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
