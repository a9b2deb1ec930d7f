// The namespace files tree as rows: folders listed as they are opened, children under their
// folder, folders before files, each level sorted by name.
import type { FileEntry } from '../api/namespaces'
import { joinPath } from './filePaths'

export interface TreeRow {
  path: string
  name: string
  depth: number
  folder: boolean
  open: boolean
  size: number
}

function sorted(entries: readonly FileEntry[]): FileEntry[] {
  return [...entries].sort((a, b) => (a.type === b.type ? a.fileName.localeCompare(b.fileName) : a.type === 'Directory' ? -1 : 1))
}

/** `listed`: each opened folder's entries by folder path ('/' the root); `open`: the folders shown open. */
export function treeRows(listed: ReadonlyMap<string, readonly FileEntry[]>, open: ReadonlySet<string>): TreeRow[] {
  const rows: TreeRow[] = []
  const walk = (folder: string, depth: number): void => {
    for (const entry of sorted(listed.get(folder) ?? [])) {
      const path = joinPath(folder, entry.fileName)
      const folderEntry = entry.type === 'Directory'
      const isOpen = folderEntry && open.has(path)
      rows.push({ path, name: entry.fileName, depth, folder: folderEntry, open: isOpen, size: entry.size })
      if (isOpen) walk(path, depth + 1)
    }
  }
  walk('/', 0)
  return rows
}
