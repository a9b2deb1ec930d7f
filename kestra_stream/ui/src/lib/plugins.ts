// Plugin types grouped by their package (io.kestra.plugin.core.flow, ...), filtered by a search.
import type { PluginSummary } from '../api/types'

export interface PluginGroup {
  name: string
  plugins: PluginSummary[]
}

export function groupOf(type: string): string {
  return type.split('.').slice(0, -1).join('.') || type
}

export function groupPlugins(plugins: PluginSummary[], filter: string): PluginGroup[] {
  const needle = filter.trim().toLowerCase()
  const groups = new Map<string, PluginSummary[]>()
  for (const plugin of plugins) {
    const haystack = `${plugin.type} ${plugin.title ?? ''} ${plugin.aliases.join(' ')}`.toLowerCase()
    if (needle && !haystack.includes(needle)) continue
    const name = groupOf(plugin.type)
    groups.set(name, [...(groups.get(name) ?? []), plugin])
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => ({ name, plugins: list.sort((x, y) => x.type.localeCompare(y.type)) }))
}
