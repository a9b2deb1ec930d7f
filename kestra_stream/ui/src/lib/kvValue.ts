// A KV value as a person types it, turned into the body the API reads (Kestra's Ion-like text:
// a JSON value keeps its type, an unquoted ISO date, date-time or duration becomes one), and back.
import type { KvType, KvValue } from '../api/namespaces'

export const KV_TYPES: KvType[] = ['STRING', 'NUMBER', 'BOOLEAN', 'DATETIME', 'DATE', 'DURATION', 'JSON']

const DURATION = /^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/i
const DATE = /^\d{4}-\d{2}-\d{2}$/
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/

export function isDuration(text: string): boolean {
  return DURATION.test(text.trim())
}

/** The PUT body for `text` typed as `type`; throws an Error saying what is wrong and how to write it. */
export function kvBody(type: KvType, text: string): string {
  const value = text.trim()
  switch (type) {
    case 'STRING':
      // Quoted, so that "42" or "true" stays a string.
      return JSON.stringify(text)
    case 'NUMBER':
      if (value === '' || !Number.isFinite(Number(value))) throw new Error(`"${text}" is not a number: write it as 42 or 3.14`)
      return String(Number(value))
    case 'BOOLEAN':
      if (value !== 'true' && value !== 'false') throw new Error(`a BOOLEAN is true or false, not "${text}"`)
      return value
    case 'DATE':
      if (!DATE.test(value) || Number.isNaN(Date.parse(value))) throw new Error(`"${text}" is not a date: write it as 2024-05-01`)
      return value
    case 'DATETIME':
      if (!DATETIME.test(value) || Number.isNaN(Date.parse(value)))
        throw new Error(`"${text}" is not a date-time with a zone: write it as 2024-05-01T10:00:00Z`)
      return value
    case 'DURATION':
      if (!isDuration(value)) throw new Error(`"${text}" is not an ISO-8601 duration: write it as PT5M, PT1H30M or P2D`)
      return value.toUpperCase()
    case 'JSON': {
      let parsed: unknown
      try {
        parsed = JSON.parse(value)
      } catch (err) {
        throw new Error(`the JSON does not parse: ${err instanceof Error ? err.message : String(err)}`)
      }
      if (parsed === null || typeof parsed !== 'object') throw new Error('a JSON value is an object {…} or an array […]')
      return JSON.stringify(parsed)
    }
  }
}

/** A stored value as the text the edit form shows. */
export function kvText(value: KvValue): string {
  if (value.type === 'JSON') return JSON.stringify(value.value, null, 2)
  if (typeof value.value === 'string') return value.value
  return JSON.stringify(value.value)
}

/** The TTL field: blank is no expiry; anything else must be an ISO-8601 duration. */
export function checkedTtl(text: string): string | undefined {
  const value = text.trim()
  if (!value) return undefined
  if (!isDuration(value)) throw new Error(`the TTL "${text}" is not an ISO-8601 duration: write it as PT1H or P7D`)
  return value.toUpperCase()
}

/** The TTL that keeps a key's expiry when it is saved again (a PUT without one makes it never expire):
 * the whole seconds left until `expirationDate`, rounded up; undefined for a key that never expires. */
export function keptTtl(expirationDate: string | null | undefined, now: Date): string | undefined {
  if (!expirationDate) return undefined
  const left = Date.parse(expirationDate) - now.getTime()
  if (Number.isNaN(left)) throw new Error(`the key's expiration date "${expirationDate}" cannot be read: give it a new TTL`)
  if (left <= 0) throw new Error('the key expired while it was edited: give it a new TTL, or none to keep it for ever')
  return `PT${Math.ceil(left / 1000)}S`
}
