// A namespace's key-value pairs and files (Kestra's KVController and NamespaceFileController).
import { API, getJson, query, request } from './client'
import type { Execution, PagedResults } from './types'

export type KvType = 'STRING' | 'NUMBER' | 'BOOLEAN' | 'DATETIME' | 'DATE' | 'DURATION' | 'JSON'

export interface KvEntry {
  key: string
  description?: string | null
  updateDate: string
  expirationDate?: string | null
}

export interface KvValue {
  type: KvType
  value: unknown
}

export interface FileEntry {
  fileName: string
  type: 'File' | 'Directory'
  size: number
}

const enc = encodeURIComponent
const ns = (namespace: string) => `${API}/namespaces/${enc(namespace)}`

export const kvApi = {
  list: (namespace: string) => getJson<KvEntry[]>(`${ns(namespace)}/kv`),
  get: (namespace: string, key: string) => getJson<KvValue>(`${ns(namespace)}/kv/${enc(key)}`),
  /** `body` is the value as Kestra reads it (see lib/kvValue.ts); `ttl` an ISO-8601 duration. */
  put: (namespace: string, key: string, body: string, ttl?: string) =>
    request(`${ns(namespace)}/kv/${enc(key)}${query({ ttl })}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body,
    }),
  remove: (namespace: string, key: string) => request(`${ns(namespace)}/kv/${enc(key)}`, { method: 'DELETE' }),
}

export const filesApi = {
  directory: (namespace: string, path?: string) =>
    getJson<FileEntry[]>(`${ns(namespace)}/files/directory${query({ path })}`),
  read: async (namespace: string, path: string) => (await request(`${ns(namespace)}/files${query({ path })}`)).text(),
  write: (namespace: string, path: string, content: Blob | string, name?: string) => {
    const form = new FormData()
    const blob = typeof content === 'string' ? new Blob([content], { type: 'application/octet-stream' }) : content
    form.set('fileContent', blob, name ?? path.split('/').pop() ?? 'file')
    return request(`${ns(namespace)}/files${query({ path })}`, { method: 'POST', body: form })
  },
  move: (namespace: string, from: string, to: string) =>
    request(`${ns(namespace)}/files${query({ from, to })}`, { method: 'PUT' }),
  remove: (namespace: string, path: string) => request(`${ns(namespace)}/files${query({ path })}`, { method: 'DELETE' }),
}

/** The latest executions of a namespace and those below it (the full list is the executions page's). */
export const namespaceExecutions = (namespace: string, size = 50) =>
  getJson<PagedResults<Execution>>(`${API}/executions/search${query({ namespace, size, sort: 'state.startDate:desc' })}`)
