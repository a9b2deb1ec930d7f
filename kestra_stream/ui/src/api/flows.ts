import { API, getJson, query, request, sendJson, sendYaml } from './client'
import type { Execution, Flow, FlowGraph, PagedResults, ValidateResult } from './types'

const enc = encodeURIComponent
const flowPath = (namespace: string, id: string) => `${API}/flows/${enc(namespace)}/${enc(id)}`

export const flowsApi = {
  search: (params: { q?: string; namespace?: string; labels?: string; size?: number; page?: number }) =>
    getJson<PagedResults<Flow>>(`${API}/flows/search${query({ size: 100, ...params })}`),
  namespaces: () => getJson<string[]>(`${API}/flows/distinct-namespaces`),
  get: (namespace: string, id: string, revision?: number) =>
    getJson<Flow>(`${flowPath(namespace, id)}${query({ source: 'true', revision })}`),
  create: (source: string) => sendYaml<Flow>(`${API}/flows`, 'POST', source),
  update: (namespace: string, id: string, source: string) => sendYaml<Flow>(flowPath(namespace, id), 'PUT', source),
  remove: (namespace: string, id: string) => request(flowPath(namespace, id), { method: 'DELETE' }),
  revisions: (namespace: string, id: string) => getJson<Flow[]>(`${flowPath(namespace, id)}/revisions`),
  validate: (source: string, signal?: AbortSignal) =>
    getJson<ValidateResult[]>(`${API}/flows/validate`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-yaml' },
      body: source,
      signal,
    }),
  graphOfSource: (source: string, signal?: AbortSignal) =>
    getJson<FlowGraph>(`${API}/flows/graph`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-yaml' },
      body: source,
      signal,
    }),
  graph: (namespace: string, id: string) => getJson<FlowGraph>(`${flowPath(namespace, id)}/graph`),
  lastExecutions: (flows: { namespace: string; id: string }[]) =>
    sendJson<Execution[]>(`${API}/stats/executions/latest/group-by-flow`, 'POST', { flows }),
  exportUrl: (params: { q?: string; namespace?: string }) => `${API}/flows/export/by-query${query(params)}`,
  importFile: async (file: File) => {
    const form = new FormData()
    form.set('fileUpload', file)
    return request(`${API}/flows/import`, { method: 'POST', body: form })
  },
  setDisabled: async (flow: Flow, disabled: boolean) => {
    // The source is the truth: toggling rewrites its top-level `disabled` key, keeping comments.
    const source = flow.source ?? ''
    return flowsApi.update(flow.namespace, flow.id, withDisabled(source, disabled))
  },
}

export function withDisabled(source: string, disabled: boolean): string {
  const line = /^disabled:.*$/m
  if (line.test(source)) return source.replace(line, `disabled: ${disabled}`)
  return `${source.replace(/\n*$/, '\n')}disabled: ${disabled}\n`
}

export const executionsApi = {
  create: async (namespace: string, flowId: string, form: FormData) => {
    const response = await request(`${API}/executions/${enc(namespace)}/${enc(flowId)}`, { method: 'POST', body: form })
    return (await response.json()) as Execution
  },
}
