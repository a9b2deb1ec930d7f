// The Triggers endpoints: every trigger with its state (Kestra's `{abstractTrigger, triggerContext}`).
import { API, getJson, query, request, sendJson } from './client'
import type { PagedResults } from './types'

export interface TriggerBackfill {
  start: string
  end: string
  currentDate: string
  created: string
  paused: boolean
  inputs?: Record<string, unknown> | null
  labels?: Record<string, string>
}

export interface TriggerContext {
  namespace: string
  flowId: string
  triggerId: string
  date?: string | null
  nextExecutionDate?: string | null
  executionId?: string | null
  disabled: boolean
  backfill?: TriggerBackfill | null
  evaluateRunningDate?: string | null
  updatedDate?: string | null
}

export interface TriggerItem {
  abstractTrigger: { id: string; type: string; disabled?: boolean; [key: string]: unknown }
  triggerContext: TriggerContext
}

export interface TriggerRef {
  namespace: string
  flowId: string
  triggerId: string
}

export interface BackfillForm {
  start: string
  end?: string | null
  inputs?: Record<string, unknown> | null
  labels?: Record<string, string> | null
}

const enc = encodeURIComponent
const ref = (c: TriggerRef): TriggerRef => ({ namespace: c.namespace, flowId: c.flowId, triggerId: c.triggerId })

export const triggersApi = {
  search: (params: { q?: string; namespace?: string; flowId?: string; page?: number; size?: number }) =>
    getJson<PagedResults<TriggerItem>>(`${API}/triggers/search${query({ size: 100, ...params })}`),
  setDisabled: (trigger: TriggerRef, disabled: boolean) =>
    sendJson<TriggerContext>(`${API}/triggers`, 'PUT', { ...ref(trigger), disabled }),
  unlock: async (t: TriggerRef) =>
    (await request(`${API}/triggers/${enc(t.namespace)}/${enc(t.flowId)}/${enc(t.triggerId)}/unlock`, { method: 'POST' })).json() as Promise<TriggerContext>,
  backfill: (trigger: TriggerRef, backfill: BackfillForm) =>
    sendJson<TriggerContext>(`${API}/triggers`, 'PUT', { ...ref(trigger), backfill }),
  pauseBackfill: (trigger: TriggerRef) => sendJson<TriggerContext>(`${API}/triggers/backfill/pause`, 'PUT', ref(trigger)),
  resumeBackfill: (trigger: TriggerRef) => sendJson<TriggerContext>(`${API}/triggers/backfill/unpause`, 'PUT', ref(trigger)),
  deleteBackfill: (trigger: TriggerRef) => sendJson<TriggerContext>(`${API}/triggers/backfill/delete`, 'POST', ref(trigger)),
}
