// Light or dark: the system's preference until the person picks one, then their pick (remembered).
import { ref, watchEffect } from 'vue'

export type Theme = 'light' | 'dark'
const KEY = 'kestra-stream.theme'

function systemTheme(): Theme {
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

function stored(): Theme | null {
  const value = window.localStorage.getItem(KEY)
  return value === 'light' || value === 'dark' ? value : null
}

export const theme = ref<Theme>(stored() ?? systemTheme())

watchEffect(() => {
  document.documentElement.dataset.theme = theme.value
})

export function toggleTheme(): void {
  theme.value = theme.value === 'dark' ? 'light' : 'dark'
  window.localStorage.setItem(KEY, theme.value)
}
