import { test, expect, setEditorText } from './fixtures'
import { journeyFlow, TASK_IDS } from './flows'

// One namespace per run: the Kafka run shares its broker and search index with other tests.
const NAMESPACE = `ui.tests.r${Date.now().toString(36)}`
const ID = 'journey'

function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(needle))
  if (index < 0) throw new Error(`${needle} is not in the flow`)
  return index + 1
}

test.describe.configure({ mode: 'serial' })

test('a flow typed in the editor: a marked error refuses the save, the fix saves, revision 2 shows its diff', async ({ page, shot }) => {
  await page.goto('flows/new')
  await expect(page.getByTestId('yaml-editor').locator('.view-lines')).toBeVisible()
  await shot('flow-new')

  const good = journeyFlow(NAMESPACE, ID)
  const bad = good.replace('    message: "{{ read(inputs.data) }}"', '    message: "{{ read(inputs.data) }}"\n    colour: blue')
  await setEditorText(page, bad)
  const badLine = lineOf(bad, 'colour: blue')
  const problem = page.getByTestId('problem')
  await expect(problem).toHaveCount(1)
  await expect(problem).toHaveAttribute('data-line', String(badLine))
  await expect(problem).toContainText(`Line ${badLine}`)
  await expect(problem).toContainText("unknown property 'colour'")
  await expect(page.locator('.squiggly-error').first()).toBeVisible()
  await shot('editor-error-marker')

  await page.getByTestId('save').click()
  await expect(page.getByTestId('save-error')).toContainText('Not saved')
  await expect(page).toHaveURL(/flows\/new$/)

  await setEditorText(page, good)
  await expect(page.getByTestId('valid')).toBeVisible()
  await page.getByTestId('save').click()
  await expect(page).toHaveURL(new RegExp(`flows/${NAMESPACE.replaceAll('.', '\\.')}/${ID}/edit$`))
  await expect(page.getByTestId('flow-revision')).toHaveText('revision 1')
  await expect(page.getByTestId('topology-node').filter({ has: page.locator('text=each') }).first()).toBeVisible()

  // An edit, then leaving the page: the unsaved-changes guard asks first.
  await setEditorText(page, journeyFlow(NAMESPACE, ID, 'A flow **edited in the browser**.'))
  await expect(page.getByTestId('unsaved')).toBeVisible()
  page.once('dialog', (dialog) => {
    expect(dialog.message()).toContain('unsaved changes')
    void dialog.dismiss()
  })
  await page.getByRole('link', { name: 'Revisions' }).click()
  await expect(page).toHaveURL(/\/edit$/)
  await expect(page.getByTestId('valid')).toBeVisible()
  await shot('flow-editor')

  await page.getByTestId('save').click()
  await expect(page.getByTestId('flow-revision')).toHaveText('revision 2')
  await expect(page.getByTestId('unsaved')).toHaveCount(0)

  await page.getByRole('link', { name: 'Revisions' }).click()
  await expect(page.getByTestId('revisions').locator('tbody tr')).toHaveCount(2)
  await expect(page.getByTestId('diff-title')).toHaveText('Revision 1 ↔ revision 2')
  const diff = page.getByTestId('diff-editor')
  await expect(diff.locator('.editor.original')).toContainText('made in the browser')
  await expect(diff.locator('.editor.modified')).toContainText('edited in the browser')
  await expect(diff.locator('.line-insert, .char-insert').first()).toBeVisible()
  await shot('flow-revisions')
})

test('the topology shows every task: ForEach, Parallel, If then and else, the errors branch', async ({ page, shot }) => {
  await page.goto(`flows/${NAMESPACE}/${ID}/overview`)
  await expect(page.getByTestId('description')).toContainText('edited in the browser')
  const nodes = page.getByTestId('topology').getByTestId('topology-node')
  for (const id of TASK_IDS) await expect(nodes.and(page.locator(`[data-label="${id}"]`))).toHaveCount(1)
  const clusters = page.getByTestId('topology').getByTestId('topology-cluster')
  for (const id of ['each', 'both', 'check']) await expect(clusters.and(page.locator(`[data-label="${id}"]`))).toHaveCount(1)
  await shot('flow-overview')
})

test('@kafka the Run dialog sends every input, a FILE among them, and lands on the execution', async ({ page, shot }) => {
  // Self-contained (the Kafka run starts here): the flow is deployed through the API when missing.
  const existing = await page.request.get(`/api/v1/flows/${NAMESPACE}/${ID}`)
  if (existing.status() === 404) {
    const created = await page.request.post('/api/v1/flows', {
      headers: { 'Content-Type': 'application/x-yaml' },
      data: journeyFlow(NAMESPACE, ID),
    })
    expect(created.status()).toBe(200)
  }
  // On Kafka the flow reaches the API's store through its topic: wait until it is readable.
  await expect.poll(async () => (await page.request.get(`/api/v1/flows/${NAMESPACE}/${ID}`)).status()).toBe(200)
  await page.goto(`flows/${NAMESPACE}/${ID}/overview`)
  await page.getByTestId('run').click()
  const dialog = page.getByTestId('run-dialog')
  await expect(dialog).toBeVisible()
  await expect(dialog.getByLabel('who')).toHaveValue('World')

  // Required fields are checked before sending; a bound is the API's to check, its message shown.
  await dialog.getByTestId('run-submit').click()
  await expect(dialog.getByTestId('field-count').getByTestId('field-error')).toContainText('required')
  await dialog.getByLabel('who').fill('Browser')
  await dialog.getByLabel('count').fill('0')
  await dialog.getByLabel('loud').check()
  await dialog.getByLabel('color').selectOption('green')
  await dialog.getByLabel('data').setInputFiles({ name: 'payload.txt', mimeType: 'text/plain', buffer: Buffer.from('file content from the browser') })
  await shot('run-dialog')
  await dialog.getByTestId('run-submit').click()
  await expect(dialog.getByTestId('field-count').getByTestId('field-error')).toContainText('minimum')

  await dialog.getByLabel('count').fill('3')
  await dialog.getByTestId('run-submit').click()
  await expect(page).toHaveURL(/\/executions\/[A-Za-z0-9]+$/)
  await expect(page.getByTestId('execution-state')).toHaveText('SUCCESS', { timeout: 90_000 })
  const runs = page.getByTestId('taskrun')
  await expect(runs.filter({ hasText: 'shout' })).toHaveCount(1)
  await expect(runs.filter({ hasText: 'whisper' })).toHaveCount(0)
  await expect(runs.filter({ hasText: 'read' })).toHaveCount(1)
  await expect(page.getByTestId('execution-inputs')).toContainText('"count": 3')
  await expect(page.getByTestId('execution-inputs')).toContainText('kestra://')
  await shot('execution')
})

test('the flows list, the plugins page and an unknown address render without error', async ({ page, shot }) => {
  await page.goto('flows')
  const row = page.locator(`[data-flow="${NAMESPACE}.${ID}"]`)
  await expect(row).toBeVisible()
  await expect(row.getByTestId('state-badge')).toHaveText('SUCCESS')
  await expect(page.getByTestId('namespace-tree')).toContainText('ui')
  await shot('flows-list')

  // The theme follows the system until the person picks one; the pick survives a reload.
  const theme = await page.locator('html').getAttribute('data-theme')
  await page.getByTestId('theme-toggle').click()
  const other = theme === 'dark' ? 'light' : 'dark'
  await expect(page.locator('html')).toHaveAttribute('data-theme', other)
  await page.reload()
  await expect(page.locator('html')).toHaveAttribute('data-theme', other)
  await expect(row).toBeVisible()
  await shot(`flows-list-${other}`)

  await page.goto('plugins/io.kestra.plugin.core.flow.ForEach')
  await expect(page.getByTestId('plugin-detail')).toContainText('io.kestra.plugin.core.flow.ForEach')
  await expect(page.getByTestId('plugin-properties').locator('tr').filter({ hasText: 'concurrencyLimit' })).toHaveCount(1)
  await shot('plugins')

  await page.goto('no/such/page')
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible()
})
