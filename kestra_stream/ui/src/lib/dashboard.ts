// The dashboard's failure ratio as a person reads it (the chart's series are lib/dailyStats.ts's).

/** `0.125` → `12.5%`; no ended execution → an em dash, not a misleading 0%. */
export function formatRatio(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—'
  const percent = ratio * 100
  return `${Number.isInteger(percent) ? percent : percent.toFixed(1)}%`
}
