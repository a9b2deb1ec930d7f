import { API, getJson } from './client'
import type { PluginDetail, PluginSummary } from './types'

let summaries: Promise<PluginSummary[]> | null = null
const details = new Map<string, Promise<PluginDetail>>()

export const pluginsApi = {
  /** Fetched once per page load: the installed types do not change while the server runs. */
  list(): Promise<PluginSummary[]> {
    summaries ??= getJson<PluginSummary[]>(`${API}/plugins`).catch((err: unknown) => {
      summaries = null
      throw err
    })
    return summaries
  },
  detail(type: string): Promise<PluginDetail> {
    let known = details.get(type)
    if (!known) {
      known = getJson<PluginDetail>(`${API}/plugins/${encodeURIComponent(type)}`)
      known.catch(() => details.delete(type))
      details.set(type, known)
    }
    return known
  },
  /** The canonical type a name (or alias) stands for, or null when no plugin has that name. */
  async resolve(name: string): Promise<string | null> {
    const list = await pluginsApi.list()
    return list.find((p) => p.type === name || p.aliases.includes(name))?.type ?? null
  },
}
