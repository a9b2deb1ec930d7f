// Dotted namespaces as a tree, flattened for display: every prefix appears once, indented by depth.
export interface NamespaceRow {
  full: string
  label: string
  depth: number
}

export function namespaceRows(namespaces: string[]): NamespaceRow[] {
  const all = new Set<string>()
  for (const namespace of namespaces) {
    const parts = namespace.split('.')
    for (let i = 1; i <= parts.length; i += 1) all.add(parts.slice(0, i).join('.'))
  }
  return [...all].sort().map((full) => {
    const parts = full.split('.')
    return { full, label: parts.at(-1) ?? full, depth: parts.length - 1 }
  })
}
