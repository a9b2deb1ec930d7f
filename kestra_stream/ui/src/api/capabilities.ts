// What this server serves, read once from its OpenAPI document: the UI offers an action or a filter
// only when the endpoint or parameter behind it exists, rather than sending what would be refused
// or, worse, ignored.
import { API, getJson } from './client'

interface Operation {
  parameters?: { name: string; in: string }[]
}
interface OpenApi {
  paths?: Record<string, Record<string, Operation>>
}

let document: Promise<OpenApi> | null = null

function load(): Promise<OpenApi> {
  document ??= getJson<OpenApi>(`${API}/openapi.json`).catch((err: unknown) => {
    document = null
    throw err
  })
  return document
}

/** Whether `method path` is served; `path` is written as the document writes it, after /api/v1. */
export async function serves(method: string, path: string): Promise<boolean> {
  const paths = (await load()).paths ?? {}
  return !!paths[`${API}${path}`]?.[method.toLowerCase()]
}

/** Whether `method path` takes the query parameter `name`. */
export async function takesParameter(method: string, path: string, name: string): Promise<boolean> {
  const operation = (await load()).paths?.[`${API}${path}`]?.[method.toLowerCase()]
  return !!operation?.parameters?.some((p) => p.in === 'query' && p.name === name)
}
