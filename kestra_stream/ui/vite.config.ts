import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

// The Python webserver serves the build at /ui/ (history fallback to index.html); `npm run dev`
// proxies the API to a local server so the same relative URLs work in both.
export default defineConfig({
  base: '/ui/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    chunkSizeWarningLimit: 8000,
  },
  worker: { format: 'es' },
  server: {
    proxy: { '/api': process.env.KESTRA_STREAM_API ?? 'http://localhost:8080' },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/unit/**/*.test.ts'],
    // A deadline, not a measure: the machine's two cores are shared, and ELK's first layout is slow.
    testTimeout: 60_000,
  },
})
