// Namespace file paths: `/`-separated below the namespace root, always shown with a leading `/`.

export function normalPath(path: string): string {
  const parts = path.split('/').filter((p) => p && p !== '.')
  return `/${parts.join('/')}`
}

export function joinPath(folder: string, name: string): string {
  return normalPath(`${folder}/${name}`)
}

export function parentOf(path: string): string {
  const parts = normalPath(path).split('/').filter(Boolean)
  return `/${parts.slice(0, -1).join('/')}`
}

export function baseName(path: string): string {
  return normalPath(path).split('/').filter(Boolean).at(-1) ?? ''
}

/** Refuses what the server would refuse, with the reason, before a request is made. */
export function checkedPath(path: string): string {
  const normal = normalPath(path)
  if (normal === '/') throw new Error('give the file a name, such as scripts/main.py')
  if (path.split('/').includes('..')) throw new Error('a path cannot contain ..: give it from the namespace root')
  if (normal.split('/')[1] === '_flows') throw new Error('_flows is reserved for flows: use the flow editor')
  return normal
}

// Monaco's languages that need no worker of their own (the UI bundles only the editor's and YAML's).
const LANGUAGES: Record<string, string> = {
  yml: 'yaml', yaml: 'yaml', py: 'python', sh: 'shell', bash: 'shell', sql: 'sql', md: 'markdown',
  xml: 'xml', ini: 'ini', toml: 'ini', r: 'r', rb: 'ruby', go: 'go', java: 'java', dockerfile: 'dockerfile',
}

export function languageOf(path: string): string {
  const name = baseName(path).toLowerCase()
  if (name === 'dockerfile') return 'dockerfile'
  const extension = name.includes('.') ? name.split('.').at(-1) ?? '' : ''
  return LANGUAGES[extension] ?? 'plaintext'
}
