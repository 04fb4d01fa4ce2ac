import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

// The gateway serves dist/ at `/` under a strict Content-Security-Policy: no inline
// scripts, no eval. Vite's production output is one module script file, so it fits.
const backend = process.env.CHAT_DEV_BACKEND ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [vue()],
  build: {
    // No inlined module-preload polyfill script: it would need 'unsafe-inline'.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': { target: backend, changeOrigin: false },
      '/ws': { target: backend, ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
    watch: false,
  },
})
