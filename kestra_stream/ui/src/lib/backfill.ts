// The backfill dialog's labels field: `key:value` pairs separated by commas or new lines.

export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const part of text.split(/[,\n]/)) {
    const item = part.trim()
    if (!item) continue
    const colon = item.indexOf(':')
    if (colon <= 0 || colon === item.length - 1) throw new Error(`the label "${item}" is not key:value`)
    labels[item.slice(0, colon).trim()] = item.slice(colon + 1).trim()
  }
  return labels
}
