import { defineConfig } from '@playwright/test'
import base from './playwright.config'

// The executions journeys (tests/ui/test_browser_executions.py): part 1's settings, their own folder.
export default defineConfig({ ...base, testDir: 'e2e-executions' })
