import type { APIRequestContext, Page } from '@playwright/test'
import { test, expect } from '../e2e/fixtures'

// One namespace per run: the Kafka run shares its broker and search index with other tests.
const NAMESPACE = `ui.exec.r${Date.now().toString(36)}`

// A Parallel, a Pause that holds the execution open (so what the page shows before the end is
// asserted while the execution deterministically waits), then a task failing on each of its attempts.
const LIVE = `id: live
namespace: ${NAMESPACE}
inputs:
  - id: data
    type: FILE
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.log.Log
        message: left branch ran
      - id: right
        type: io.kestra.plugin.core.log.Log
        message: right branch ran
  - id: keep
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.data }}"
  - id: gate
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: reason
        type: STRING
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "flaky gave up: {{ outputs.gate.onResume.reason }}"
    retry:
      type: constant
      interval: PT0.2S
      maxAttempts: 3
`

const LONG = `id: long
namespace: ${NAMESPACE}
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT10M
`

async function deploy(request: APIRequestContext, source: string, id: string): Promise<void> {
  const created = await request.post('/api/v1/flows', { headers: { 'Content-Type': 'application/x-yaml' }, data: source })
  expect(created.status(), await created.text()).toBe(200)
  // On Kafka the flow reaches the API's store through its topic: wait until it is readable.
  await expect.poll(async () => (await request.get(`/api/v1/flows/${NAMESPACE}/${id}`)).status()).toBe(200)
}

async function run(request: APIRequestContext, id: string, file?: string): Promise<string> {
  const multipart = file ? { data: { name: 'data.txt', mimeType: 'text/plain', buffer: Buffer.from(file) } } : undefined
  const response = await request.post(`/api/v1/executions/${NAMESPACE}/${id}`, multipart ? { multipart } : {})
  expect(response.status(), await response.text()).toBe(200)
  return ((await response.json()) as { id: string }).id
}

const state = (page: Page) => page.getByTestId('execution-state')
const ganttRow = (page: Page, task: string) => page.getByTestId('gantt-row').and(page.locator(`[data-task="${task}"]`))

test.describe.configure({ mode: 'serial' })

let liveId = ''

test('the execution page follows a run live: Gantt and logs before the end, the failure red in the topology, a restart, a task run set to SUCCESS', async ({ page, shot }) => {
  await deploy(page.request, LIVE, 'live')
  liveId = await run(page.request, 'live', 'first line of the file\nsecond line')
  await page.goto(`executions/${liveId}?tab=gantt`)

  // Paused at the gate: nothing has ended, and the branches already show, with their logs.
  await expect(state(page)).toHaveText('PAUSED', { timeout: 90_000 })
  for (const task of ['both', 'left', 'right']) await expect(ganttRow(page, task)).toHaveCount(1)
  await expect(ganttRow(page, 'flaky')).toHaveCount(0)
  await expect(page.getByTestId('execution-live')).toBeVisible()
  await shot('execution-gantt-paused')
  await page.getByTestId('tab-logs').click()
  const leftLogs = page.getByTestId('log-group').and(page.locator('[data-task="left"]'))
  await expect(leftLogs.getByTestId('log-line')).toContainText('left branch ran')
  await expect(page.getByTestId('logs-live')).toBeVisible()
  await shot('execution-logs-live')

  // Resumed through the onResume form: the rest arrives on the same page, through the same stream.
  await page.getByTestId('action-resume').click()
  const form = page.getByTestId('resume-form')
  await form.getByLabel('reason').fill('from the browser')
  await form.getByTestId('resume-submit').click()
  const flakyLogs = page.getByTestId('log-group').and(page.locator('[data-task="flaky"]'))
  await expect(flakyLogs.first()).toBeVisible({ timeout: 90_000 })
  await expect(state(page)).toHaveText('FAILED', { timeout: 90_000 })
  await expect(flakyLogs).toHaveCount(3)
  await expect(page.getByTestId('logs-live')).toHaveCount(0)
  await page.getByTestId('logs-search').fill('gave up')
  await expect(page.getByTestId('log-line').first()).toContainText('flaky gave up: from the browser')

  await page.getByTestId('tab-gantt').click()
  const flaky = ganttRow(page, 'flaky')
  await expect(flaky).toHaveAttribute('data-state', 'FAILED')
  await expect(flaky.getByTestId('gantt-attempt')).toHaveCount(3)
  await expect(flaky.getByTestId('gantt-retries')).toHaveText('2 retries')
  await shot('execution-gantt')

  await page.getByTestId('tab-topology').click()
  const node = (label: string) => page.getByTestId('topology-node').and(page.locator(`[data-label="${label}"]`))
  await expect(node('flaky')).toHaveAttribute('data-state', 'FAILED')
  await expect(node('flaky')).toHaveClass(/tone-danger/)
  await expect(node('left')).toHaveAttribute('data-state', 'SUCCESS')
  const stroke = await node('flaky').locator('rect').evaluate((el) => getComputedStyle(el).stroke)
  const danger = await page.evaluate(() => {
    const probe = document.createElement('span')
    probe.style.color = 'var(--danger)'
    document.body.append(probe)
    const colour = getComputedStyle(probe).color
    probe.remove()
    return colour
  })
  expect(stroke).toBe(danger)
  await shot('execution-topology')

  // Restart: the failed task run gets one more attempt (its fourth), followed live again.
  await page.getByTestId('tab-overview').click()
  await page.getByTestId('action-restart').click()
  await expect(page.getByTestId('action-notice')).toContainText('Restarted')
  await page.getByTestId('tab-gantt').click()
  await expect(flaky.getByTestId('gantt-attempt')).toHaveCount(4, { timeout: 90_000 })
  await expect(state(page)).toHaveText('FAILED', { timeout: 90_000 })
  // The file the flow returned: previewed in the page, downloadable.
  await page.getByTestId('tab-outputs').click()
  const output = page.getByTestId('output-source').filter({ hasText: 'keep' })
  await output.getByTestId('output-preview').click()
  await expect(page.getByTestId('file-preview')).toContainText('first line of the file')
  await expect(output.getByTestId('output-download')).toHaveAttribute('href', /\/file\?path=kestra/)
  await shot('execution-outputs')

  await page.getByTestId('tab-flow').click()
  await expect(page.getByTestId('execution-flow')).toContainText('type: io.kestra.plugin.core.flow.Parallel')
  // Labels of the ended execution, edited in place.
  await page.getByTestId('tab-overview').click()
  await page.getByTestId('labels-edit').click()
  await page.getByTestId('label-add').click()
  await page.getByTestId('label-key').last().fill('reviewed')
  await page.getByTestId('label-value').last().fill('yes')
  await page.getByTestId('labels-save').click()
  await expect(page.getByTestId('execution-labels').getByTestId('label')).toContainText(['reviewed: yes'])
  await shot('execution-overview')

  // Replay from the failed task run: a new execution, which names the one it replays.
  await page.getByTestId('replay-from').selectOption({ label: 'from flaky' })
  await page.getByTestId('action-replay').click()
  await expect(page).not.toHaveURL(new RegExp(`/executions/${liveId}`))
  await expect(page).toHaveURL(/\/executions\/[A-Za-z0-9]+$/)
  await expect(page.getByRole('link', { name: liveId })).toBeVisible()
  await expect(state(page)).toHaveText('FAILED', { timeout: 90_000 })

  // The replay's failed task run set to SUCCESS by hand: chosen, confirmed, and the execution runs on
  // from there to its end, SUCCESS, shown on the same page.
  await page.getByTestId('change-run').selectOption({ label: 'flaky (FAILED)' })
  await expect(page.getByTestId('change-state').locator('option')).toHaveText(['SUCCESS', 'WARNING'])
  await expect(page.getByTestId('change-state')).toHaveValue('SUCCESS')
  page.once('dialog', (dialog) => {
    expect(dialog.message()).toContain('Set flaky (FAILED) to SUCCESS?')
    void dialog.accept()
  })
  await page.getByTestId('action-change-state').click()
  await expect(page.getByTestId('action-notice')).toContainText('Task run flaky set to SUCCESS')
  await expect(state(page)).toHaveText('SUCCESS', { timeout: 90_000 })
  await page.getByTestId('tab-gantt').click()
  await expect(ganttRow(page, 'flaky')).toHaveAttribute('data-state', 'SUCCESS')
  await shot('execution-state-changed')
})

test('the executions list: filters, then a bulk kill of long runs', async ({ page, shot }) => {
  await deploy(page.request, LONG, 'long')
  const ids = [await run(page.request, 'long'), await run(page.request, 'long')]

  await page.goto(`executions?namespace=${NAMESPACE}`)
  const rows = page.getByTestId('execution-row')
  const row = (id: string) => rows.and(page.locator(`[data-id="${id}"]`))
  // The list reads the search index, which trails the engine: refresh until both runs are there.
  for (const id of ids) {
    await expect(async () => {
      await page.getByTestId('refresh').click()
      await expect(row(id)).toHaveAttribute('data-state', 'RUNNING', { timeout: 2_000 })
    }).toPass({ timeout: 90_000 })
  }
  if (liveId) await expect(row(liveId)).toHaveAttribute('data-state', 'FAILED')

  // A state filter narrows the list and lands in the address.
  await page.getByTestId('filter-state-RUNNING').click()
  await expect(page).toHaveURL(/state=RUNNING/)
  await expect(rows).toHaveCount(2)
  // The counts and the histogram read the same filters from the stats endpoints.
  await expect(async () => {
    await page.getByTestId('refresh').click()
    await expect(page.getByTestId('count-RUNNING')).toContainText('2', { timeout: 2_000 })
  }).toPass({ timeout: 90_000 })
  await expect(page.getByTestId('state-counts').locator('[data-testid^="count-"]')).toHaveCount(1)
  await expect(page.getByTestId('histogram')).toHaveAttribute('data-total', '2')
  await shot('executions-list')

  for (const id of ids) await row(id).getByTestId('select').check()
  await expect(page.getByTestId('bulk-bar')).toContainText('2 selected')
  page.once('dialog', (dialog) => void dialog.accept())
  await page.getByTestId('bulk-kill').click()
  await expect(page.getByTestId('bulk-notice')).toContainText('2 executions')
  await page.getByTestId('filter-state-RUNNING').click()
  await page.getByTestId('filter-state-KILLED').click()
  for (const id of ids) {
    await expect(async () => {
      await page.getByTestId('refresh').click()
      await expect(row(id)).toHaveAttribute('data-state', 'KILLED', { timeout: 2_000 })
    }).toPass({ timeout: 90_000 })
  }
  await shot('executions-killed')

  // A filter that matches nothing says what to do next.
  await page.getByTestId('filter-q').fill('no-such-execution-anywhere')
  await page.getByTestId('filter-q').press('Enter')
  await expect(page.getByTestId('executions-empty')).toContainText('Clear the filters')
  await page.getByTestId('executions-empty').getByRole('button', { name: 'Clear the filters' }).click()
  await expect(page).toHaveURL(/\/executions$/)

  // The flow's executions tab is the same list, for that flow only.
  await page.goto(`flows/${NAMESPACE}/long/executions`)
  await expect(rows).toHaveCount(2)
})

const HOLD = `id: hold
namespace: ${NAMESPACE}
tasks:
  - id: first
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT10M
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: not reached
`

const BROKEN = `id: broken
namespace: ${NAMESPACE}
tasks:
  - id: fails
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: broken on purpose
`

interface ApiExecution { id: string; originalId?: string | null; state: { current: string; histories: { state: string }[] } }

test('the execution page pauses then kills a run; the list restarts, replays and deletes ended runs in bulk', async ({ page, shot }) => {
  // From the execution page: a running execution paused, then killed, each change shown live.
  await deploy(page.request, HOLD, 'hold')
  const holdId = await run(page.request, 'hold')
  await page.goto(`executions/${holdId}`)
  await expect(state(page)).toHaveText('RUNNING', { timeout: 90_000 })
  await page.getByTestId('action-pause').click()
  await expect(page.getByTestId('action-notice')).toContainText('Pause requested')
  await expect(state(page)).toHaveText('PAUSED', { timeout: 90_000 })
  await expect(page.getByTestId('action-resume')).toBeVisible()
  page.once('dialog', (dialog) => void dialog.accept())
  await page.getByTestId('action-kill').click()
  await expect(page.getByTestId('action-notice')).toContainText('Kill requested')
  await expect(state(page)).toHaveText('KILLED', { timeout: 90_000 })
  await expect(page.getByTestId('action-kill')).toHaveCount(0)
  await shot('execution-killed')

  // Two failed runs, restarted then replayed from the list.
  await deploy(page.request, BROKEN, 'broken')
  const failed = [await run(page.request, 'broken'), await run(page.request, 'broken')]
  // Undefined until the API knows the execution: on Kafka its creation reaches the API's reader a moment later.
  const get = async (id: string): Promise<ApiExecution | undefined> => {
    const answer = await page.request.get(`/api/v1/executions/${id}`)
    return answer.ok() ? ((await answer.json()) as ApiExecution) : undefined
  }
  for (const id of failed) await expect.poll(async () => (await get(id))?.state.current, { timeout: 90_000 }).toBe('FAILED')

  await page.goto(`executions?namespace=${NAMESPACE}&flowId=broken`)
  const rows = page.getByTestId('execution-row')
  const row = (id: string) => rows.and(page.locator(`[data-id="${id}"]`))
  await expect(async () => {
    await page.getByTestId('refresh').click()
    for (const id of failed) await expect(row(id)).toHaveAttribute('data-state', 'FAILED', { timeout: 2_000 })
  }).toPass({ timeout: 90_000 })
  await expect(rows).toHaveCount(2)

  const bulk = async (action: 'restart' | 'replay' | 'delete', notice: string) => {
    await page.getByTestId('select-all').check()
    await expect(page.getByTestId('bulk-bar')).toContainText(`${await rows.count()} selected`)
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByTestId(`bulk-${action}`).click()
    await expect(page.getByTestId('bulk-notice')).toHaveText(notice)
  }
  await bulk('restart', 'Restarted 2 executions.')
  // Restarted: each failed again after a RESTARTED step in its history, on the same id.
  for (const id of failed) {
    await expect.poll(async () => {
      const execution = await get(id)
      return execution !== undefined && execution.state.histories.some((h) => h.state === 'RESTARTED') &&
        execution.state.current === 'FAILED'
    }, { timeout: 90_000 }).toBe(true)
  }

  await bulk('replay', 'Replayed 2 executions.')
  // Replays are new executions of the flow, each naming the one it replays.
  await expect(async () => {
    await page.getByTestId('refresh').click()
    await expect(rows).toHaveCount(4, { timeout: 2_000 })
    await expect(rows.and(page.locator('[data-state="FAILED"]'))).toHaveCount(4, { timeout: 2_000 })
  }).toPass({ timeout: 90_000 })
  const replays = (await rows.evaluateAll((elements) => elements.map((e) => e.getAttribute('data-id') ?? '')))
    .filter((id) => !failed.includes(id))
  expect(replays).toHaveLength(2)
  expect((await Promise.all(replays.map(async (id) => (await get(id))?.originalId))).sort()).toEqual([...failed].sort())
  await shot('executions-replayed')

  await bulk('delete', 'Deleted 4 executions.')
  for (const id of [...failed, ...replays]) {
    await expect.poll(async () => (await page.request.get(`/api/v1/executions/${id}`)).status(), { timeout: 90_000 }).toBe(404)
  }
  await expect(async () => {
    await page.getByTestId('refresh').click()
    await expect(page.getByTestId('executions-empty')).toBeVisible({ timeout: 2_000 })
  }).toPass({ timeout: 90_000 })
  await shot('executions-deleted')
})
