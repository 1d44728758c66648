import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['ci/**/*.test.ts', 'lab/**/*.test.ts'],
    setupFiles: ['lab/env.ts'],
    // many tests drive the real lab (a Kubernetes control plane, registries, an engine) on a shared 2-core machine
    testTimeout: 180000,
    hookTimeout: 180000,
    coverage: {
      provider: 'v8',
      include: ['ci/**/*.ts'],
      exclude: ['ci/**/*.test.ts', 'ci/sdk/**'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: '.ci-out/coverage',
    },
  },
})
