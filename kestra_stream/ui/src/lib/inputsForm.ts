// The Run dialog's form, generated from a flow's inputs: one field per input with the widget its
// type needs, the declared default, and the values turned into the multipart body the executions
// API reads (a FILE input is an uploaded part named after the input).

import type { FlowInput } from '../api/types'

export type Widget =
  | 'text'
  | 'password'
  | 'textarea'
  | 'number'
  | 'checkbox'
  | 'datetime'
  | 'date'
  | 'time'
  | 'file'
  | 'select'
  | 'radio'
  | 'multiselect'
  | 'email'
  | 'url'

export type FieldValue = string | boolean | string[] | File | null

export interface Field {
  id: string
  label: string
  type: string
  widget: Widget
  required: boolean
  description: string | null
  options: string[]
  step: string | null
  min: string | null
  max: string | null
  accept: string | null
  placeholder: string | null
  initial: FieldValue
}

const WIDGETS: Record<string, Widget> = {
  STRING: 'text',
  SECRET: 'password',
  INT: 'number',
  FLOAT: 'number',
  BOOLEAN: 'checkbox',
  BOOL: 'checkbox',
  DATETIME: 'datetime',
  DATE: 'date',
  TIME: 'time',
  DURATION: 'text',
  FILE: 'file',
  JSON: 'textarea',
  YAML: 'textarea',
  ARRAY: 'textarea',
  URI: 'url',
  EMAIL: 'email',
  SELECT: 'select',
  ENUM: 'select',
  MULTISELECT: 'multiselect',
}

const PLACEHOLDERS: Record<string, string> = {
  DURATION: 'PT1H30M',
  JSON: '{"key": "value"}',
  YAML: 'key: value',
  ARRAY: '["a", "b"]',
  DATETIME: '2024-01-31T12:00:00Z',
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return ''
  if (typeof value === 'string') return value
  return JSON.stringify(value)
}

/** A datetime default (an ISO instant) as the value of an <input type="datetime-local">, which
 * holds the person's local time. */
export function toDatetimeLocal(value: string): string {
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return value
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
}

/** What a datetime-local field holds (the person's local time) as an ISO instant. */
export function fromDatetimeLocal(value: string): string {
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? value : date.toISOString()
}

function initialValue(input: FlowInput, widget: Widget): FieldValue {
  const declared = input.defaults ?? input.prefill
  switch (widget) {
    case 'checkbox':
      return declared === true || declared === 'true'
    case 'file':
      return null
    case 'multiselect':
      return Array.isArray(declared) ? declared.map(asText) : declared ? [asText(declared)] : []
    case 'datetime':
      return declared ? toDatetimeLocal(asText(declared)) : ''
    case 'textarea':
      if (typeof declared === 'string') return declared
      return declared === undefined || declared === null ? '' : JSON.stringify(declared, null, 2)
    default:
      return asText(declared)
  }
}

export function fieldOf(input: FlowInput): Field {
  const widget = input.type === 'SELECT' || input.type === 'ENUM'
    ? (input.isRadio ? 'radio' : 'select')
    : (WIDGETS[input.type] ?? 'text')
  const bound = (v: unknown) => (v === undefined || v === null ? null : String(v))
  const extensions = input.allowedFileExtensions ?? []
  return {
    id: input.id,
    label: input.displayName || input.id,
    type: input.type,
    widget,
    required: input.required !== false && input.defaults === undefined,
    description: input.description ?? null,
    options: input.values ?? input.options ?? [],
    step: input.type === 'FLOAT' ? 'any' : input.type === 'INT' ? '1' : null,
    min: input.type === 'INT' || input.type === 'FLOAT' ? bound(input.min) : null,
    max: input.type === 'INT' || input.type === 'FLOAT' ? bound(input.max) : null,
    accept: extensions.length ? extensions.map((e) => (e.startsWith('.') ? e : `.${e}`)).join(',') : null,
    placeholder: PLACEHOLDERS[input.type] ?? null,
    initial: initialValue(input, widget),
  }
}

export function fieldsOf(inputs: FlowInput[] | null | undefined): Field[] {
  return (inputs ?? []).map(fieldOf)
}

export function initialValues(fields: Field[]): Record<string, FieldValue> {
  return Object.fromEntries(fields.map((f) => [f.id, f.initial]))
}

function isEmpty(value: FieldValue): boolean {
  return value === null || value === '' || (Array.isArray(value) && value.length === 0)
}

/** What must be fixed before sending: a required field left empty. Types are the API's to check. */
export function missingRequired(fields: Field[], values: Record<string, FieldValue>): Record<string, string> {
  const errors: Record<string, string> = {}
  for (const field of fields) {
    if (field.widget === 'checkbox') continue
    if (field.required && isEmpty(values[field.id] ?? null)) errors[field.id] = `${field.label} is required`
  }
  return errors
}

/** The multipart body of POST /executions/{namespace}/{flowId}: empty optional fields are left out
 * so that the flow's defaults apply. */
export function toFormData(fields: Field[], values: Record<string, FieldValue>): FormData {
  const form = new FormData()
  for (const field of fields) {
    const value = values[field.id] ?? null
    if (field.widget === 'checkbox') {
      form.append(field.id, value === true ? 'true' : 'false')
    } else if (value instanceof File) {
      form.append(field.id, value, value.name)
    } else if (Array.isArray(value)) {
      if (value.length) form.append(field.id, JSON.stringify(value))
    } else if (typeof value === 'string' && value !== '') {
      form.append(field.id, field.widget === 'datetime' ? fromDatetimeLocal(value) : value)
    }
  }
  return form
}

/** The API names the input it refuses ("Invalid input 'n': ..."): the message goes under that field. */
export function fieldOfError(message: string, fields: Field[]): string | null {
  const match = /input '([^']+)'/.exec(message)
  const id = match?.[1]
  return id && fields.some((f) => f.id === id) ? id : null
}
