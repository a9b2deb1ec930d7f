// Execution states grouped by the colour a badge shows.
const TONES: Record<string, string> = {
  SUCCESS: 'success',
  WARNING: 'warning',
  FAILED: 'danger',
  KILLED: 'danger',
  KILLING: 'danger',
  CANCELLED: 'muted',
  SKIPPED: 'muted',
  RUNNING: 'running',
  CREATED: 'running',
  RESTARTED: 'running',
  QUEUED: 'muted',
  PAUSED: 'warning',
  RETRYING: 'running',
  RETRIED: 'warning',
}

export function stateTone(state: string | null | undefined): string {
  return TONES[state ?? ''] ?? 'muted'
}

export const FINAL_STATES = new Set(['SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED', 'SKIPPED', 'RETRIED'])

export function formatDate(value: string | null | undefined): string {
  if (!value) return ''
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString()
}
