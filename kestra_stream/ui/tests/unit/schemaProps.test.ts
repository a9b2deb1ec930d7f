import { describe, expect, it } from 'vitest'
import { propertyRows } from '../../src/lib/schemaProps'
import { namespaceRows } from '../../src/lib/namespaces'
import { groupPlugins } from '../../src/lib/plugins'

describe('a plugin schema as property rows', () => {
  it('spells unions, references, lists, maps and formats as types, with required and defaults', () => {
    const rows = propertyRows({
      $defs: { LogLevel: { enum: ['INFO', 'WARN'] }, ConstantRetry: { type: 'object' } },
      required: ['message'],
      properties: {
        message: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'What to log.' },
        level: { $ref: '#/$defs/LogLevel', default: 'INFO' },
        retry: { anyOf: [{ $ref: '#/$defs/ConstantRetry' }, { type: 'null' }], default: null },
        timeout: { anyOf: [{ type: 'string', format: 'duration' }, { type: 'null' }] },
        values: { type: 'object', additionalProperties: { type: 'integer' } },
      },
    })
    expect(rows).toEqual([
      { name: 'message', type: 'string | list of string', required: true, defaultValue: null, description: 'What to log.' },
      { name: 'level', type: 'INFO | WARN', required: false, defaultValue: '"INFO"', description: null },
      { name: 'retry', type: 'ConstantRetry', required: false, defaultValue: null, description: null },
      { name: 'timeout', type: 'string (duration)', required: false, defaultValue: null, description: null },
      { name: 'values', type: 'map of integer', required: false, defaultValue: null, description: null },
    ])
  })
})

describe('lists of the UI', () => {
  it('shows every namespace prefix once, indented by its depth', () => {
    expect(namespaceRows(['company.team', 'company.data.sales', 'other'])).toEqual([
      { full: 'company', label: 'company', depth: 0 },
      { full: 'company.data', label: 'data', depth: 1 },
      { full: 'company.data.sales', label: 'sales', depth: 2 },
      { full: 'company.team', label: 'team', depth: 1 },
      { full: 'other', label: 'other', depth: 0 },
    ])
  })

  it('groups plugin types by package and filters on type, title and aliases', () => {
    const plugin = (type: string, title: string, aliases: string[] = []) =>
      ({ type, title, aliases, shortName: type, kind: 'task', deprecated: false })
    const all = [
      plugin('io.kestra.plugin.core.log.Log', 'Log a message', ['io.kestra.core.tasks.log.Log']),
      plugin('io.kestra.plugin.core.flow.If', 'Branch'),
      plugin('io.kestra.plugin.core.flow.ForEach', 'Loop'),
    ]
    expect(groupPlugins(all, '').map((g) => [g.name, g.plugins.map((p) => p.type.split('.').pop())])).toEqual([
      ['io.kestra.plugin.core.flow', ['ForEach', 'If']],
      ['io.kestra.plugin.core.log', ['Log']],
    ])
    expect(groupPlugins(all, 'core.tasks').map((g) => g.name)).toEqual(['io.kestra.plugin.core.log'])
    expect(groupPlugins(all, 'loop')[0]?.plugins.map((p) => p.type)).toEqual(['io.kestra.plugin.core.flow.ForEach'])
  })
})
