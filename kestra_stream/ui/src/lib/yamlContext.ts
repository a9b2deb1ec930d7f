// The plugin type of the YAML mapping that holds a line: what the documentation panel shows while
// the cursor moves through a task. Indentation-based, so it works on a source that does not parse.

const KEY = /^(\s*)(-\s+)?([A-Za-z_][\w.-]*)\s*:/
// A plugin type is a dotted class name: an input's `type: STRING` is not one.
const TYPE = /^\s*(?:-\s+)?type\s*:\s*["']?(\w+(?:\.\w+)+)["']?\s*(#.*)?$/

interface KeyLine {
  indent: number
  item: boolean
}

function keyLine(line: string): KeyLine | null {
  const match = KEY.exec(line)
  if (!match) return null
  return { indent: (match[1] ?? '').length + (match[2] ?? '').length, item: Boolean(match[2]) }
}

/** `lineIndex` is 0-based. Returns the `type:` value of the enclosing mapping, or null. */
export function typeAt(lines: string[], lineIndex: number): string | null {
  let start = Math.min(lineIndex, lines.length - 1)
  while (start >= 0 && keyLine(lines[start] ?? '') === null) start -= 1
  if (start < 0) return null
  const here = keyLine(lines[start] ?? '')
  if (!here) return null
  let indent = here.indent
  // Upwards, to the start of the mapping (a list item at this indentation), leaving nested
  // mappings for their parents as the indentation decreases.
  for (let i = start; i >= 0; i -= 1) {
    const line = lines[i] ?? ''
    const key = keyLine(line)
    if (!key) continue
    if (key.indent > indent) continue
    if (key.indent < indent) indent = key.indent
    const type = TYPE.exec(line)
    if (type) return type[1] ?? null
    if (key.item) {
      // The item's first line: its `type:` may come after the cursor.
      for (let j = i + 1; j < lines.length; j += 1) {
        const next = keyLine(lines[j] ?? '')
        if (!next) continue
        if (next.indent < indent || (next.indent === indent && next.item)) break
        if (next.indent === indent) {
          const later = TYPE.exec(lines[j] ?? '')
          if (later) return later[1] ?? null
        }
      }
      // Not a typed item: keep looking in the enclosing mapping.
      indent -= 1
    }
  }
  return null
}
