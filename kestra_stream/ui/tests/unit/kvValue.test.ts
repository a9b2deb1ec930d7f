import { describe, expect, it } from 'vitest'
import { checkedTtl, isDuration, keptTtl, kvBody, kvText } from '../../src/lib/kvValue'
import { parseLabels } from '../../src/lib/backfill'

describe('KV values', () => {
  it('quote a STRING so that digits or true stay text', () => {
    expect(kvBody('STRING', '42')).toBe('"42"')
    expect(kvBody('STRING', 'say "hi"')).toBe('"say \\"hi\\""')
  })

  it('send numbers, booleans, dates, date-times and durations unquoted, as the server types them', () => {
    expect(kvBody('NUMBER', ' 3.5 ')).toBe('3.5')
    expect(kvBody('BOOLEAN', 'false')).toBe('false')
    expect(kvBody('DATE', '2024-05-01')).toBe('2024-05-01')
    expect(kvBody('DATETIME', '2024-05-01T10:00:00Z')).toBe('2024-05-01T10:00:00Z')
    expect(kvBody('DURATION', 'pt5m')).toBe('PT5M')
  })

  it('send JSON objects and arrays compacted', () => {
    expect(kvBody('JSON', '{ "a": [1, 2] }')).toBe('{"a":[1,2]}')
  })

  it('refuse a value that is not of its type, saying how to write it', () => {
    expect(() => kvBody('NUMBER', 'ten')).toThrow('write it as 42')
    expect(() => kvBody('BOOLEAN', 'yes')).toThrow('true or false')
    expect(() => kvBody('DATE', '01/05/2024')).toThrow('2024-05-01')
    expect(() => kvBody('DATETIME', '2024-05-01T10:00:00')).toThrow('with a zone')
    expect(() => kvBody('DURATION', '5 minutes')).toThrow('PT5M')
    expect(() => kvBody('JSON', '{a: 1}')).toThrow('does not parse')
    expect(() => kvBody('JSON', '12')).toThrow('object')
  })

  it('show a stored value as the text to edit', () => {
    expect(kvText({ type: 'STRING', value: 'hello' })).toBe('hello')
    expect(kvText({ type: 'NUMBER', value: 12 })).toBe('12')
    expect(kvText({ type: 'JSON', value: { a: 1 } })).toBe('{\n  "a": 1\n}')
  })

  it('take a blank TTL as no expiry and refuse one that is not a duration', () => {
    expect(checkedTtl('  ')).toBeUndefined()
    expect(checkedTtl('p7d')).toBe('P7D')
    expect(() => checkedTtl('7 days')).toThrow('ISO-8601')
    expect(isDuration('PT1H30M')).toBe(true)
    expect(isDuration('P')).toBe(false)
    expect(isDuration('PT')).toBe(false)
  })
})

describe('backfill labels', () => {
  it('read key:value pairs separated by commas or lines', () => {
    expect(parseLabels('team:data, env: prod\nregion:eu')).toEqual({ team: 'data', env: 'prod', region: 'eu' })
    expect(parseLabels('')).toEqual({})
  })

  it('refuse a label without a key or a value', () => {
    expect(() => parseLabels('team')).toThrow('"team" is not key:value')
    expect(() => parseLabels(':x')).toThrow('not key:value')
  })
})

describe("keeping a key's expiry when it is saved again", () => {
  const now = new Date('2026-01-01T10:00:00Z')

  it('is the seconds left until the expiration date, rounded up', () => {
    expect(keptTtl('2026-01-01T11:00:00Z', now)).toBe('PT3600S')
    expect(keptTtl('2026-01-01T10:00:00.200Z', now)).toBe('PT1S')
    expect(checkedTtl(keptTtl('2026-01-02T10:00:00+00:00', now) ?? '')).toBe('PT86400S')
  })

  it('is no TTL for a key that never expires', () => {
    expect(keptTtl(null, now)).toBeUndefined()
    expect(keptTtl(undefined, now)).toBeUndefined()
  })

  it('refuses an expiry already past or unreadable, asking for a new TTL', () => {
    expect(() => keptTtl('2026-01-01T09:59:59Z', now)).toThrow('give it a new TTL')
    expect(() => keptTtl('soon', now)).toThrow('cannot be read')
  })
})
