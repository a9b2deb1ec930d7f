import { defineConfig } from '@playwright/test'

// Driven by tests/ui/test_browser.py, which starts the server and passes its address. The browser
// is the machine's Chromium: no browser is ever downloaded.
const baseURL = process.env.KESTRA_STREAM_UI_URL
if (!baseURL) throw new Error('KESTRA_STREAM_UI_URL is not set: run the browser tests through pytest tests/ui')

export default defineConfig({
  testDir: 'e2e',
  outputDir: process.env.KESTRA_STREAM_UI_RESULTS ?? '../../tests/ui/artifacts/results',
  workers: 1,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    baseURL,
    headless: true,
    viewport: { width: 1440, height: 900 },
    launchOptions: { executablePath: process.env.KESTRA_STREAM_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] },
    screenshot: 'only-on-failure',
    trace: 'off',
  },
})
