import { defineConfig } from '@playwright/test'
import base from './playwright.config'

// The home dashboard, triggers, namespaces and logs journeys (tests/ui/test_browser_home.py): the
// same browser and settings as the part-1 journeys, their own folder so each pytest test runs its own.
export default defineConfig({ ...base, testDir: 'e2e-home' })
