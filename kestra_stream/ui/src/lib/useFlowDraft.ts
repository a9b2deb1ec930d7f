// The editor's state for one flow source: validation and topology as the text changes (debounced,
// the older request aborted), the problems as markers, and the save that creates a revision.
import { computed, onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue'
import { ApiError, describeError } from '../api/client'
import { flowsApi } from '../api/flows'
import type { Flow, FlowGraph, Violation } from '../api/types'
import { validationMarkers, type MarkerData, type Severities } from './markers'

const DEBOUNCE_MS = 350

export interface Problem {
  message: string
  line: number | null
  column: number | null
}

export function useFlowDraft(source: Ref<string>, severities: Severities) {
  const saved = ref(source.value)
  const problems = ref<Problem[]>([])
  const markers = shallowRef<MarkerData[]>([])
  const graph = shallowRef<FlowGraph | null>(null)
  const graphError = ref<string | null>(null)
  const graphStale = ref(false)
  const checking = ref(false)
  const saveError = ref<string | null>(null)
  const saving = ref(false)
  const dirty = computed(() => source.value !== saved.value)

  let timer: ReturnType<typeof setTimeout> | undefined
  let inFlight: AbortController | null = null

  function readLine(text: string): (line: number) => string | null {
    const lines = text.split('\n')
    return (line) => lines[line - 1] ?? null
  }

  function showProblems(text: string, violations: Violation[]): void {
    problems.value = violations.map((v) => ({ message: v.message, line: v.line ?? null, column: v.column ?? null }))
    markers.value = validationMarkers(
      [{ index: 0, violations }],
      severities,
      text.split('\n').length,
      readLine(text),
    )
  }

  async function check(text: string): Promise<void> {
    inFlight?.abort()
    const controller = new AbortController()
    inFlight = controller
    checking.value = true
    try {
      let violations: Violation[]
      try {
        const results = await flowsApi.validate(text, controller.signal)
        violations = results.flatMap((r) =>
          r.violations?.length ? r.violations : r.constraints ? [{ message: r.constraints }] : [],
        )
      } catch (err) {
        if (controller.signal.aborted) return
        violations = [{ message: describeError(err) }]
      }
      if (controller.signal.aborted) return
      showProblems(text, violations)
      // The last good topology stays drawn while the source has problems.
      graphStale.value = violations.length > 0
      if (violations.length) return
      try {
        graph.value = await flowsApi.graphOfSource(text, controller.signal)
        graphError.value = null
      } catch (err) {
        if (!controller.signal.aborted) graphError.value = describeError(err)
      }
    } finally {
      if (inFlight === controller) checking.value = false
    }
  }

  watch(
    source,
    (text) => {
      clearTimeout(timer)
      timer = setTimeout(() => void check(text), DEBOUNCE_MS)
    },
    { immediate: true },
  )
  onBeforeUnmount(() => {
    clearTimeout(timer)
    inFlight?.abort()
  })

  /** Creates the flow (no target) or a new revision of it; refuses while the source has problems. */
  async function save(target: { namespace: string; id: string } | null): Promise<Flow | null> {
    saveError.value = null
    clearTimeout(timer)
    const text = source.value
    await check(text)
    if (problems.value.length) {
      saveError.value = `Not saved: fix the ${problems.value.length} problem(s) marked in the editor first.`
      return null
    }
    saving.value = true
    try {
      const flow = target ? await flowsApi.update(target.namespace, target.id, text) : await flowsApi.create(text)
      saved.value = text
      return flow
    } catch (err) {
      if (err instanceof ApiError && err.problems.length) showProblems(text, err.problems)
      saveError.value = `Not saved: ${describeError(err)}`
      return null
    } finally {
      saving.value = false
    }
  }

  return { problems, markers, graph, graphError, graphStale, checking, dirty, save, saving, saveError }
}
