// Problems the validation API reports (a message and a 1-based line/column) as Monaco markers.
// Pure: Monaco's MarkerSeverity is passed in so that tests need no editor.

import type { ValidateResult, Violation } from '../api/types'

export interface MarkerData {
  severity: number
  message: string
  startLineNumber: number
  startColumn: number
  endLineNumber: number
  endColumn: number
  source?: string
}

export interface Severities {
  Error: number
  Warning: number
}

/** The text of one line, to stretch a marker to the end of the word it points at. */
export type LineReader = (lineNumber: number) => string | null

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high)
}

export function violationMarker(
  violation: Violation,
  severity: number,
  lineCount: number,
  readLine: LineReader,
): MarkerData {
  const line = clamp(violation.line ?? 1, 1, Math.max(lineCount, 1))
  const text = readLine(line) ?? ''
  const firstNonBlank = text.search(/\S/) + 1 || 1
  const column = clamp(violation.column ?? firstNonBlank, 1, text.length + 1)
  // The marker covers what starts at the column up to the end of the line, so a squiggle shows
  // under the key or the list item the problem is about, not under a single character.
  const endColumn = Math.max(text.trimEnd().length + 1, column + 1)
  const where = violation.path ? ` [${violation.path}]` : ''
  return {
    severity,
    message: `${violation.message}${where}`,
    startLineNumber: line,
    startColumn: column,
    endLineNumber: line,
    endColumn,
    source: 'kestra-stream',
  }
}

export function validationMarkers(
  results: ValidateResult[],
  severities: Severities,
  lineCount: number,
  readLine: LineReader,
): MarkerData[] {
  const markers: MarkerData[] = []
  for (const result of results) {
    const violations = result.violations ?? []
    for (const violation of violations) {
      markers.push(violationMarker(violation, severities.Error, lineCount, readLine))
    }
    if (violations.length === 0 && result.constraints) {
      markers.push(violationMarker({ message: result.constraints }, severities.Error, lineCount, readLine))
    }
    for (const warning of result.warnings ?? []) {
      markers.push(violationMarker({ message: warning }, severities.Warning, lineCount, readLine))
    }
  }
  return markers
}
