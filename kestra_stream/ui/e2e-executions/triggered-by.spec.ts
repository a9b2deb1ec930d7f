import type { APIRequestContext } from '@playwright/test'
import { test, expect } from '../e2e/fixtures'

// A namespace of its own: the filter is asserted over every execution of it.
const NAMESPACE = `ui.trig.r${Date.now().toString(36)}`
const KEY = `hook-${Date.now().toString(36)}`

const HOOKED = `id: hooked
namespace: ${NAMESPACE}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hooked ran
    logToFile: true
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: ${KEY}
    logToFile: true
`

// Started by the Flow trigger once each run of `hooked` succeeds.
const FOLLOW = `id: follow
namespace: ${NAMESPACE}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "after {{ trigger.executionId }}"
triggers:
  - id: after_hooked
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: ${NAMESPACE}
        flowId: hooked
`

interface Found { results: { id: string; flowId: string; state: { current: string } }[] }

async function deploy(request: APIRequestContext, source: string, id: string): Promise<void> {
  const created = await request.post('/api/v1/flows', { headers: { 'Content-Type': 'application/x-yaml' }, data: source })
  expect(created.status(), await created.text()).toBe(200)
  await expect.poll(async () => (await request.get(`/api/v1/flows/${NAMESPACE}/${id}`)).status()).toBe(200)
}

test('the executions list filters on what started each execution, kept in the address', async ({ page, shot }) => {
  test.setTimeout(300_000)
  const request = page.request
  await deploy(request, FOLLOW, 'follow')
  await deploy(request, HOOKED, 'hooked')
  const manual = await request.post(`/api/v1/executions/${NAMESPACE}/hooked`)
  expect(manual.status(), await manual.text()).toBe(200)
  const manualId = ((await manual.json()) as { id: string }).id
  // On Kafka the webhook's flow reaches the API's trigger lookup through its topic: call until it is found.
  let hookedId = ''
  await expect.poll(async () => {
    const hooked = await request.post(`/api/v1/executions/webhook/${NAMESPACE}/hooked/${KEY}`, { data: { from: 'test' } })
    if (hooked.status() === 200) hookedId = ((await hooked.json()) as { id: string }).id
    return hooked.status()
  }, { timeout: 90_000 }).toBe(200)

  // Both runs of `hooked` ended and each started a `follow`: four executions, all searchable and ended.
  await expect.poll(async () => {
    const found = (await (await request.get(`/api/v1/executions/search?namespace=${NAMESPACE}&size=50`)).json()) as Found
    return found.results.filter((e) => e.state.current === 'SUCCESS').length
  }, { timeout: 120_000 }).toBe(4)
  const followers = ((await (await request.get(`/api/v1/executions/search?namespace=${NAMESPACE}&flowId=follow`)).json()) as Found)
    .results.map((e) => e.id)
  expect(followers).toHaveLength(2)

  await page.goto(`executions?namespace=${NAMESPACE}`)
  const rows = page.getByTestId('execution-row')
  // Polled: the URL changes at the click, the rows once the list's answer for it arrived.
  const shown = async () => (await rows.evaluateAll((elements) => elements.map((e) => e.getAttribute('data-id') ?? ''))).sort()
  await expect(rows).toHaveCount(4)

  await page.getByTestId('filter-trigger-WEBHOOK').click()
  await expect(page).toHaveURL(/triggeredBy=WEBHOOK/)
  await expect(rows).toHaveCount(1)
  await expect.poll(shown).toEqual([hookedId])
  await expect(page.getByTestId('count-SUCCESS')).toContainText('1')
  await shot('executions-triggered-by-webhook')

  // Another kind beside it, then in its place.
  await page.getByTestId('filter-trigger-MANUAL').click()
  await expect(rows).toHaveCount(2)
  await expect.poll(shown).toEqual([hookedId, manualId].sort())
  await page.getByTestId('filter-trigger-WEBHOOK').click()
  await page.getByTestId('filter-trigger-MANUAL').click()
  await page.getByTestId('filter-trigger-FLOW').click()
  await expect(page).toHaveURL(/triggeredBy=FLOW/)
  await expect(rows).toHaveCount(2)
  await expect.poll(shown).toEqual([...followers].sort())
  await expect(page.getByTestId('count-SUCCESS')).toContainText('2')

  // The address keeps the filter: a reload shows the same list, its chip pressed.
  await page.reload()
  await expect(page.getByTestId('filter-trigger-FLOW')).toHaveAttribute('aria-pressed', 'true')
  await expect(rows).toHaveCount(2)
  await expect.poll(shown).toEqual([...followers].sort())

  // A kind nothing here was started by: the empty list says what to do next.
  await page.getByTestId('filter-trigger-FLOW').click()
  await page.getByTestId('filter-trigger-SCHEDULE').click()
  await expect(page.getByTestId('executions-empty')).toContainText('Clear the filters')
  await shot('executions-triggered-by-none')

  // logToFile on the webhook and on its task: the execution page offers both files, each holding its lines.
  await page.goto(`executions/${hookedId}`)
  const fileText = async (testId: string): Promise<string> => {
    const link = page.getByTestId(testId)
    await expect(link).toBeVisible()
    const answer = await request.get((await link.getAttribute('href')) ?? '')
    expect(answer.status(), await answer.text()).toBe(200)
    return answer.text()
  }
  expect(await fileText('trigger-log-file')).toContain(`started execution ${hookedId}`)
  expect(await fileText('attempt-log-file')).toContain('hooked ran')
  await shot('execution-trigger-log-file')
})
