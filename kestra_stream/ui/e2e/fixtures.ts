// Every browser test fails on a console error or an uncaught exception of the page, and can write
// a screenshot of each page it visits to the artifacts folder.
import { test as base, expect, type Page } from '@playwright/test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

export const ARTIFACTS = process.env.KESTRA_STREAM_UI_ARTIFACTS ?? join(import.meta.dirname, '../../../tests/ui/artifacts')

export const test = base.extend<{ consoleErrors: string[]; shot: (name: string) => Promise<void> }>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = []
      page.on('console', (message) => {
        // Chromium logs every non-2xx fetch; a 422 is the API refusing input, which the page shows
        // as a message of its own (and the tests assert that message). Anything else counts.
        if (message.type() !== 'error' || /status of 422\b/.test(message.text())) return
        errors.push(`console: ${message.text()} (${message.location().url})`)
      })
      page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
      await use(errors)
      expect(errors, 'the page logged errors').toEqual([])
    },
    { auto: true },
  ],
  shot: async ({ page }, use, testInfo) => {
    const folder = join(ARTIFACTS, testInfo.project.name || 'chromium')
    mkdirSync(folder, { recursive: true })
    await use(async (name: string) => {
      await page.screenshot({ path: join(folder, `${name}.png`), fullPage: false })
    })
  },
})

export { expect }

/** Replaces the whole text of the Monaco editor by pasting it: typed text would be re-indented
 * line by line by the editor, as it is for a person typing. */
export async function setEditorText(page: Page, text: string, testId = 'yaml-editor'): Promise<void> {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'])
  await page.evaluate(async (value) => navigator.clipboard.writeText(value), text)
  const editor = page.getByTestId(testId)
  await editor.locator('.view-lines').click()
  await page.keyboard.press('ControlOrMeta+A')
  await page.keyboard.press('ControlOrMeta+V')
  // Only the visible lines are in the DOM: after a paste, the last ones.
  await expect(editor.locator('.view-lines')).toContainText(text.trimEnd().split('\n').at(-1)?.trim() ?? '')
}
