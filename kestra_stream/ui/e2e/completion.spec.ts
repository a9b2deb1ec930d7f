import { test, expect, setEditorText } from './fixtures'

test('the editor completes task types and documents properties from the flow schema', async ({ page, shot }) => {
  await page.goto('flows/new')
  await expect(page.locator('.flow-editor[data-schema=ready]')).toBeVisible()
  await setEditorText(page, 'id: completing\nnamespace: ui.tests\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n  - id: next\n    type: io.kestra.plugin.core.flow.Fo')
  await page.keyboard.press('Control+Space')
  const suggestions = page.locator('.suggest-widget')
  await expect(suggestions).toBeVisible()
  await expect(suggestions.locator('.monaco-list-row').filter({ hasText: 'io.kestra.plugin.core.flow.ForEach' }).first()).toBeVisible()
  await shot('editor-completion')
  await page.keyboard.press('Escape')

  // Hover on a property: its description from the schema.
  await page.getByTestId('yaml-editor').locator('.view-line').filter({ hasText: 'message: hi' }).locator('span', { hasText: 'message' }).first().hover()
  await expect(page.locator('.monaco-hover').filter({ hasText: 'The message(s) to log' })).toBeVisible()
  // The side panel documents the type under the cursor.
  await page.getByTestId('yaml-editor').locator('.view-line').filter({ hasText: 'message: hi' }).click()
  await expect(page.getByTestId('plugin-doc')).toContainText('io.kestra.plugin.core.log.Log')
})
