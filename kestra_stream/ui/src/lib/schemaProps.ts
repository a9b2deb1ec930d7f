// The properties of a plugin's JSON Schema as rows a person reads: name, type, required, default
// and description, with nullable unions and $refs to $defs spelled as the type they stand for.

type Schema = Record<string, unknown>

export interface PropertyRow {
  name: string
  type: string
  required: boolean
  defaultValue: string | null
  description: string | null
}

function refName(ref: string): string {
  return ref.split('/').pop() ?? ref
}

export function typeOf(schema: Schema, defs: Record<string, Schema> = {}): string {
  if (typeof schema.$ref === 'string') {
    const target = defs[refName(schema.$ref)]
    if (target && Array.isArray(target.enum)) return target.enum.map(String).join(' | ')
    return refName(schema.$ref)
  }
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ')
  if ('const' in schema) return JSON.stringify(schema.const)
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
  if (Array.isArray(union)) {
    const parts = union.filter((s) => s.type !== 'null').map((s) => typeOf(s, defs))
    return [...new Set(parts)].join(' | ') || 'null'
  }
  if (schema.type === 'array') {
    const items = schema.items as Schema | undefined
    return `list of ${items ? typeOf(items, defs) : 'any'}`
  }
  if (schema.type === 'object' && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    return `map of ${typeOf(schema.additionalProperties as Schema, defs)}`
  }
  const base = Array.isArray(schema.type) ? schema.type.join(' | ') : typeof schema.type === 'string' ? schema.type : 'any'
  return typeof schema.format === 'string' ? `${base} (${schema.format})` : base
}

export function propertyRows(schema: Schema): PropertyRow[] {
  const properties = (schema.properties ?? {}) as Record<string, Schema>
  const required = new Set((schema.required ?? []) as string[])
  const defs = (schema.$defs ?? schema.definitions ?? {}) as Record<string, Schema>
  return Object.entries(properties).map(([name, property]) => ({
    name,
    type: typeOf(property, defs),
    required: required.has(name),
    defaultValue: property.default === undefined || property.default === null ? null : JSON.stringify(property.default),
    description: typeof property.description === 'string' ? property.description : null,
  }))
}
