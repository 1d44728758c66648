import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['ci/**/*.test.ts', 'lab/**/*.test.ts'],
    setupFiles: ['lab/env.ts'],
    // many tests drive the real lab (a Kubernetes control plane, registries, an engine) on a shared 2-core machine
    testTimeout: 180000,
    hookTimeout: 120000,
  },
})
