import { describe, expect, it } from 'vitest'
import { baseName, checkedPath, joinPath, languageOf, normalPath, parentOf } from '../../src/lib/filePaths'
import { treeRows } from '../../src/lib/fileTree'
import type { FileEntry } from '../../src/api/namespaces'

describe('namespace file paths', () => {
  it('are normalised with one leading slash', () => {
    expect(normalPath('scripts//main.py/')).toBe('/scripts/main.py')
    expect(joinPath('/', 'a.txt')).toBe('/a.txt')
    expect(joinPath('/scripts', 'sub/b.sql')).toBe('/scripts/sub/b.sql')
    expect(parentOf('/scripts/main.py')).toBe('/scripts')
    expect(parentOf('/main.py')).toBe('/')
    expect(baseName('/scripts/main.py')).toBe('main.py')
  })

  it('refuse a blank path, .. and the _flows folder, saying why', () => {
    expect(() => checkedPath('/')).toThrow('give the file a name')
    expect(() => checkedPath('a/../b')).toThrow('..')
    expect(() => checkedPath('_flows/x.yml')).toThrow('_flows is reserved')
    expect(checkedPath('scripts/main.py')).toBe('/scripts/main.py')
  })

  it('pick the editor language from the extension, plain text otherwise', () => {
    expect(languageOf('/a/b.py')).toBe('python')
    expect(languageOf('/q.SQL')).toBe('sql')
    expect(languageOf('/Dockerfile')).toBe('dockerfile')
    expect(languageOf('/notes')).toBe('plaintext')
  })
})

describe('the namespace files tree', () => {
  const file = (fileName: string, size = 1): FileEntry => ({ fileName, type: 'File', size })
  const dir = (fileName: string): FileEntry => ({ fileName, type: 'Directory', size: 0 })
  const listed = new Map<string, FileEntry[]>([
    ['/', [file('z.txt'), dir('scripts'), file('a.txt'), dir('data')]],
    ['/scripts', [file('main.py', 20), dir('lib')]],
    ['/data', [file('never-shown.csv')]],
  ])

  it('lists folders before files, each level by name, children under an open folder only', () => {
    const rows = treeRows(listed, new Set(['/scripts']))
    expect(rows.map((r) => [r.path, r.depth, r.open])).toEqual([
      ['/data', 0, false],
      ['/scripts', 0, true],
      ['/scripts/lib', 1, false],
      ['/scripts/main.py', 1, false],
      ['/a.txt', 0, false],
      ['/z.txt', 0, false],
    ])
  })

  it('shows an open folder that is not listed yet as open with nothing under it', () => {
    const rows = treeRows(listed, new Set(['/scripts', '/scripts/lib']))
    expect(rows.find((r) => r.path === '/scripts/lib')?.open).toBe(true)
    expect(rows).toHaveLength(6)
  })
})
