import type { APIRequestContext } from '@playwright/test'
import { test, expect, setEditorText } from '../e2e/fixtures'

// One namespace per run, so that every count the pages show is this run's.
const RUN = Date.now().toString(36)
const NAMESPACE = `ui.home.r${RUN}`
const MESSAGE = `hello from the logs page ${RUN}`
const API = '/api/v1'

const FLOWS = {
  ok: `id: ok
namespace: ${NAMESPACE}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: ${MESSAGE}
`,
  boom: `id: boom
namespace: ${NAMESPACE}
tasks:
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
`,
  ticker: `id: ticker
namespace: ${NAMESPACE}
tasks:
  - id: tick
    type: io.kestra.plugin.core.log.Log
    message: tick
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
`,
}

async function json<T>(request: APIRequestContext, path: string): Promise<T> {
  const response = await request.get(path)
  expect(response.ok(), `${path}: ${response.status()} ${await response.text()}`).toBe(true)
  return (await response.json()) as T
}

async function run(request: APIRequestContext, flowId: string): Promise<{ id: string; state: { current: string } }> {
  const response = await request.post(`${API}/executions/${NAMESPACE}/${flowId}?wait=true`, { multipart: { unused: '' } })
  expect(response.ok(), await response.text()).toBe(true)
  return response.json()
}

interface Counts { counts: Record<string, number>; total: number; failureRatio: number | null }

test.describe.configure({ mode: 'serial' })

test.beforeAll(async ({ request }) => {
  for (const source of Object.values(FLOWS)) {
    const response = await request.post(`${API}/flows`, { data: source, headers: { 'Content-Type': 'application/x-yaml' } })
    expect(response.ok(), await response.text()).toBe(true)
  }
})

test('the dashboard shows the counts the stats API answers: total, failure ratio, latest failed, most run', async ({ page, request, shot }) => {
  const oks = [await run(request, 'ok'), await run(request, 'ok')]
  const failed = await run(request, 'boom')
  expect(oks.map((e) => e.state.current)).toEqual(['SUCCESS', 'SUCCESS'])
  expect(failed.state.current).toBe('FAILED')
  // The stats are read from the search index: wait until it holds the three ended executions.
  const now = Date.now()
  const range = `startDate=${new Date(now - 86_400_000).toISOString()}&endDate=${new Date(now + 3_600_000).toISOString()}`
  await expect
    .poll(async () => (await json<Counts>(request, `${API}/stats/executions/count-by-state?namespace=${NAMESPACE}&${range}`)).counts)
    .toMatchObject({ SUCCESS: 2, FAILED: 1 })
  const api = await json<Counts>(request, `${API}/stats/executions/count-by-state?namespace=${NAMESPACE}&${range}`)
  // The aggregation agrees with the executions the search lists, state by state.
  const listed = await json<{ total: number; results: { state: { current: string } }[] }>(
    request, `${API}/executions/search?namespace=${NAMESPACE}&${range}&size=100`)
  expect(listed.total).toBe(api.total)
  const byState: Record<string, number> = {}
  for (const e of listed.results) byState[e.state.current] = (byState[e.state.current] ?? 0) + 1
  expect(byState).toEqual(Object.fromEntries(Object.entries(api.counts).filter(([, count]) => count > 0)))

  await page.goto(`dashboard?range=24h&namespace=${NAMESPACE}`)
  await expect(page.getByTestId('total-executions')).toHaveText(String(api.total))
  await expect(page.getByTestId('failure-ratio')).toHaveText(`${Math.round((api.failureRatio ?? 0) * 1000) / 10}%`)
  const states = page.getByTestId('state-counts')
  await expect(states.locator('[data-state="SUCCESS"]')).toContainText(String(api.counts.SUCCESS))
  await expect(states.locator('[data-state="FAILED"]')).toContainText(String(api.counts.FAILED))
  await expect(page.getByTestId('histogram')).toHaveAttribute('data-total', String(api.total))
  await expect(page.getByTestId('latest-failed')).toContainText(failed.id)
  await expect(page.getByTestId('most-run').locator(`[data-flow="${NAMESPACE}.ok"] [data-testid="flow-total"]`)).toHaveText('2')
  await expect(page.getByTestId('most-run').locator(`[data-flow="${NAMESPACE}.boom"] [data-testid="flow-total"]`)).toHaveText('1')
  await shot('dashboard')

  // A namespace without executions: the empty states say what to do next.
  await page.goto(`dashboard?range=1h&namespace=${NAMESPACE}.nothing`)
  await expect(page.getByTestId('total-executions')).toHaveText('0')
  await expect(page.getByTestId('no-executions')).toContainText('run a flow')
  await expect(page.getByTestId('no-failed')).toBeVisible()
})

test('a KV pair is created with a TTL, edited to another type keeping its expiry, then made permanent; the API reads what the UI wrote', async ({ page, request, shot }) => {
  await page.goto(`namespaces/${NAMESPACE}?tab=kv`)
  await expect(page.getByTestId('kv-empty')).toContainText('New key')
  await page.getByTestId('kv-new').click()
  const dialog = page.getByTestId('kv-dialog')
  await dialog.getByTestId('kv-key').fill('greeting')
  await dialog.getByTestId('kv-value').fill('42')
  await dialog.getByTestId('kv-ttl').fill('5 minutes')
  await dialog.getByTestId('kv-save').click()
  await expect(dialog.getByTestId('error')).toContainText('not an ISO-8601 duration')
  await dialog.getByTestId('kv-ttl').fill('PT1H')
  await dialog.getByTestId('kv-save').click()
  const row = page.getByTestId('kv-table').locator('[data-key="greeting"]')
  await expect(row.getByTestId('kv-type')).toHaveText('STRING')
  await expect(row.getByTestId('kv-expires')).not.toHaveText('never')
  // A STRING of digits stays a string.
  expect(await json(request, `${API}/namespaces/${NAMESPACE}/kv/greeting`)).toEqual({ type: 'STRING', value: '42' })

  const expiry = async () => (await json<{ key: string; expirationDate?: string | null }[]>(request, `${API}/namespaces/${NAMESPACE}/kv`))
    .find((e) => e.key === 'greeting')?.expirationDate ?? null
  const created = await expiry()
  expect(created).not.toBeNull()

  // Editing the value keeps the expiry it was created with (to the second), unless asked otherwise.
  await row.getByTestId('kv-edit').click()
  await expect(dialog.getByTestId('kv-value')).toHaveValue('42')
  await expect(dialog.getByTestId('kv-keep-expiry')).toBeChecked()
  await expect(dialog.getByTestId('kv-ttl')).toHaveCount(0)
  await dialog.getByTestId('kv-type-select').selectOption('JSON')
  await dialog.getByTestId('kv-value').fill('{"to": "world", "times": [1, 2]}')
  await shot('kv-dialog')
  await dialog.getByTestId('kv-save').click()
  await expect(dialog).toHaveCount(0)
  await expect(row.getByTestId('kv-type')).toHaveText('JSON')
  await expect(row.getByTestId('kv-expires')).not.toHaveText('never')
  expect(await json(request, `${API}/namespaces/${NAMESPACE}/kv/greeting`)).toEqual({ type: 'JSON', value: { to: 'world', times: [1, 2] } })
  const kept = await expiry()
  expect(kept).not.toBeNull()
  // The remaining seconds are rounded up and counted from the browser's send: never earlier, at most a
  // request's time later (a new TTL of an hour would move it by an hour).
  const moved = Date.parse(kept ?? '') - Date.parse(created ?? '')
  expect(moved).toBeGreaterThanOrEqual(0)
  expect(moved).toBeLessThan(60_000)
  await shot('kv')

  // Unticked with no TTL typed: the key no longer expires.
  await row.getByTestId('kv-edit').click()
  await dialog.getByTestId('kv-keep-expiry').uncheck()
  await expect(dialog.getByTestId('kv-ttl')).toHaveValue('')
  await dialog.getByTestId('kv-save').click()
  await expect(dialog).toHaveCount(0)
  await expect(row.getByTestId('kv-expires')).toHaveText('never')
  expect(await expiry()).toBeNull()
})

test('a namespace file is created, edited in Monaco, uploaded, moved and deleted; the API reads each change', async ({ page, request, shot }) => {
  const read = async (path: string) => {
    const response = await request.get(`${API}/namespaces/${NAMESPACE}/files?path=${encodeURIComponent(path)}`)
    return { status: response.status(), text: response.ok() ? await response.text() : '' }
  }
  await page.goto(`namespaces/${NAMESPACE}?tab=files`)
  await expect(page.getByTestId('files-empty')).toBeVisible()
  await page.getByTestId('file-new-path').fill('scripts/hello.py')
  await page.getByTestId('file-create').click()
  await expect(page.getByTestId('file-open')).toHaveText('/scripts/hello.py')
  await expect(page.getByTestId('file-tree').locator('[data-path="/scripts/hello.py"]')).toBeVisible()

  await setEditorText(page, 'print("hello")\n', 'code-editor')
  await expect(page.getByTestId('file-dirty')).toBeVisible()
  await page.getByTestId('file-save').click()
  await expect(page.getByTestId('file-dirty')).toHaveCount(0)
  expect(await read('/scripts/hello.py')).toEqual({ status: 200, text: 'print("hello")\n' })

  await setEditorText(page, 'print("hello, edited")\n', 'code-editor')
  await page.getByTestId('file-save').click()
  await expect(page.getByTestId('file-dirty')).toHaveCount(0)
  expect(await read('/scripts/hello.py')).toEqual({ status: 200, text: 'print("hello, edited")\n' })
  await shot('namespace-files')

  // Uploads go into the folder of the open file.
  await page.getByTestId('file-upload').setInputFiles({ name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b\n1,2\n') })
  await expect(page.getByTestId('file-tree').locator('[data-path="/scripts/data.csv"]')).toBeVisible()
  expect(await read('/scripts/data.csv')).toEqual({ status: 200, text: 'a,b\n1,2\n' })

  page.once('dialog', (dialog) => void dialog.accept('/data/input.csv'))
  await page.getByRole('button', { name: 'Move /scripts/data.csv' }).click()
  await expect(page.getByTestId('file-tree').locator('[data-path="/data/input.csv"]')).toBeVisible()
  expect(await read('/data/input.csv')).toEqual({ status: 200, text: 'a,b\n1,2\n' })
  expect((await read('/scripts/data.csv')).status).toBe(404)

  page.once('dialog', (dialog) => void dialog.accept())
  await page.getByRole('button', { name: 'Delete /data/input.csv' }).click()
  await expect(page.getByTestId('file-tree').locator('[data-path="/data/input.csv"]')).toHaveCount(0)
  expect((await read('/data/input.csv')).status).toBe(404)
})

test('the triggers page disables and enables a schedule, and starts, pauses, resumes and deletes a backfill; the API keeps each change', async ({ page, request, shot }) => {
  type Page = { results: { triggerContext: { disabled: boolean; triggerId: string } }[] }
  const disabled = async () => (await json<Page>(request, `${API}/triggers/search?namespace=${NAMESPACE}`)).results.map((t) => t.triggerContext.disabled)
  await page.goto(`triggers?q=${NAMESPACE}`)
  const row = page.getByTestId('triggers-table').locator(`[data-trigger="${NAMESPACE}.ticker.hourly"]`)
  const toggle = row.getByTestId('trigger-toggle')
  await expect(toggle).toBeChecked()
  await shot('triggers')

  await toggle.uncheck()
  await expect(page.getByRole('status')).toContainText('disabled')
  await expect(toggle).not.toBeChecked()
  expect(await disabled()).toEqual([true])

  await toggle.check()
  await expect(page.getByRole('status')).toContainText('enabled')
  await expect(toggle).toBeChecked()
  expect(await disabled()).toEqual([false])

  // The backfill dialog refuses what it cannot send, saying why, before asking the server.
  await row.getByTestId('backfill').click()
  const dialog = page.getByTestId('backfill-dialog')
  await dialog.getByTestId('backfill-start').fill('2026-01-01T00:00')
  await dialog.getByTestId('backfill-inputs').fill('{region: eu}')
  await dialog.getByTestId('backfill-submit').click()
  await expect(dialog.getByTestId('error')).toContainText('the inputs are not JSON')
  await dialog.getByTestId('backfill-inputs').fill('{}')
  await dialog.getByTestId('backfill-labels').fill('team')
  await dialog.getByTestId('backfill-submit').click()
  await expect(dialog.getByTestId('error')).toContainText('"team" is not key:value')
  await shot('backfill-dialog')
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await expect(dialog).toHaveCount(0)
  expect((await json<{ results: { triggerContext: { backfill?: unknown } }[] }>(request, `${API}/triggers/search?namespace=${NAMESPACE}`)).results[0]?.triggerContext.backfill ?? null).toBeNull()

  // A backfill over a window a month ahead (so no execution comes of it while the test looks): started,
  // paused, resumed and deleted from the table, each change read back through the API.
  type Backfill = { paused: boolean; start: string } | null
  const backfill = async () => (await json<{ results: { triggerContext: { backfill?: Backfill } }[] }>(
    request, `${API}/triggers/search?namespace=${NAMESPACE}`)).results[0]?.triggerContext.backfill ?? null
  const local = (days: number) => {
    const at = new Date(Date.now() + days * 86_400_000)
    at.setSeconds(0, 0)
    return { field: new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16), at }
  }
  const [from, until] = [local(30), local(31)]
  await row.getByTestId('backfill').click()
  await dialog.getByTestId('backfill-start').fill(from.field)
  await dialog.getByTestId('backfill-end').fill(until.field)
  await dialog.getByTestId('backfill-inputs').fill('{}')
  await dialog.getByTestId('backfill-labels').fill('team:ui')
  await dialog.getByTestId('backfill-submit').click()
  await expect(dialog).toHaveCount(0)
  await expect(page.getByRole('status')).toContainText('Backfill of')
  const state = row.getByTestId('backfill-state')
  await expect(state.locator('.chip')).toHaveText('running')
  const started = await backfill()
  expect(started?.paused).toBe(false)
  expect(Date.parse(started?.start ?? '')).toBe(from.at.getTime())
  await state.getByRole('button', { name: 'Pause' }).click()
  await expect(state.locator('.chip')).toHaveText('paused')
  expect((await backfill())?.paused).toBe(true)
  await state.getByRole('button', { name: 'Resume' }).click()
  await expect(state.locator('.chip')).toHaveText('running')
  expect((await backfill())?.paused).toBe(false)
  await state.getByRole('button', { name: 'Delete' }).click()
  await expect(state).toHaveText('—')
  expect(await backfill()).toBeNull()
  await expect(row.getByTestId('backfill')).toBeVisible()

  await page.getByTestId('trigger-search').fill(`${NAMESPACE}.none-such`)
  await expect(page.getByTestId('no-triggers')).toContainText('matches this search')
})

test('the logs page finds a line by its words within a namespace and flow, and not above its level', async ({ page, shot }) => {
  await page.goto(`logs?namespace=${NAMESPACE}&range=24h`)
  await page.getByTestId('logs-q').fill(MESSAGE)
  await page.getByTestId('logs-search').click()
  // Written by both runs of `ok`, read from the search index once indexed.
  const lines = page.getByTestId('log-line')
  await expect(async () => {
    await page.getByTestId('logs-search').click()
    await expect(lines).toHaveCount(2, { timeout: 2_000 })
  }).toPass({ timeout: 60_000 })
  await expect(lines.first()).toContainText(MESSAGE)
  await expect(lines.first()).toContainText(`${NAMESPACE}.ok`)
  await shot('logs')

  // By flow: the lines are ok's, none is boom's.
  await page.getByTestId('logs-flow').selectOption('boom')
  await page.getByTestId('logs-search').click()
  await expect(page.getByTestId('logs-empty')).toBeVisible()
  await page.getByTestId('logs-flow').selectOption('ok')
  await page.getByTestId('logs-search').click()
  await expect(lines).toHaveCount(2)

  await page.getByTestId('logs-level').selectOption('WARN')
  await page.getByTestId('logs-search').click()
  await expect(page.getByTestId('logs-empty')).toBeVisible()
})
