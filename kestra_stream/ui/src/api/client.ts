// One fetch wrapper for the whole UI: every failure becomes an ApiError whose message a person
// can read (the server's own message and its list of problems, or what went wrong on the wire).
import type { Violation } from './types'

export const API = '/api/v1'

export class ApiError extends Error {
  readonly status: number
  readonly problems: Violation[]

  constructor(message: string, status: number, problems: Violation[] = []) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.problems = problems
  }
}

interface ErrorBody {
  message?: string
  detail?: string
  errors?: Violation[]
}

async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text()
  let body: ErrorBody | null = null
  try {
    body = JSON.parse(text) as ErrorBody
  } catch {
    body = null
  }
  const message = body?.message ?? body?.detail ?? (text.trim() || response.statusText)
  return new ApiError(`${message} (HTTP ${response.status})`, response.status, body?.errors ?? [])
}

export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response
  try {
    response = await fetch(path.startsWith('/') ? path : `${API}/${path}`, init)
  } catch (err) {
    throw new ApiError(`The server cannot be reached: ${String(err)}`, 0)
  }
  if (!response.ok) throw await errorFrom(response)
  return response
}

export async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await request(path, init)
  return (await response.json()) as T
}

export async function sendYaml<T>(path: string, method: 'POST' | 'PUT', source: string): Promise<T> {
  return getJson<T>(path, { method, headers: { 'Content-Type': 'application/x-yaml' }, body: source })
}

export async function sendJson<T>(path: string, method: string, body: unknown): Promise<T> {
  const response = await request(path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  return (text ? JSON.parse(text) : null) as T
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.message
  if (err instanceof Error) return err.message
  return String(err)
}
