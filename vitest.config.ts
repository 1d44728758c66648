import { defineConfig } from 'vitest/config'

/**
 * The test files that need the lab (`make lab-up`: its engine, registries, cluster, real node or images). Every other
 * test file is a unit test: it runs with the lab hidden (vitest.unit-setup.ts), so a file that needs the lab and is
 * missing here fails loudly in `npm test`, even on a machine whose lab is up.
 */
export const LAB_TESTS = [
  'ci/cli/repro.test.ts',
  'ci/cli/repro-workflows.test.ts',
  'ci/src/adapters/kubernetes.test.ts',
  'ci/src/adapters/registry.test.ts',
  'ci/src/steps/ci.test.ts',
  'ci/src/steps/commands.test.ts',
  'ci/src/steps/deploy.test.ts',
  'ci/src/steps/deploy-real-node.test.ts',
  'ci/src/steps/gate.test.ts',
  'ci/src/steps/lint.test.ts',
  'ci/src/steps/monitoring-component.test.ts',
  'ci/src/steps/render.test.ts',
  'ci/src/steps/render-backup.test.ts',
  'ci/src/steps/sbom.test.ts',
  'ci/src/steps/scan.test.ts',
  'ci/src/steps/sign.test.ts',
  'lab/components/**/*.test.ts',
  'lab/engine.test.ts',
  'lab/lib/images.test.ts',
]

const ALL_TESTS = ['ci/**/*.test.ts', 'lab/**/*.test.ts']

export default defineConfig({
  test: {
    // many tests drive the real lab (a Kubernetes control plane, registries, an engine) on a shared 2-core machine
    testTimeout: 180000,
    hookTimeout: 180000,
    coverage: {
      provider: 'v8',
      include: ['ci/**/*.ts'],
      exclude: ['ci/**/*.test.ts', 'ci/**/*.testkit.ts', 'ci/sdk/**'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: '.ci-out/coverage',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ALL_TESTS,
          exclude: ['**/node_modules/**', ...LAB_TESTS],
          setupFiles: ['vitest.unit-setup.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // One file at a time, declared (docs/pipeline.md "Test projects"): the files share one cluster, one real node
        // that lab/components/node.test.ts deletes and restarts, and the application namespaces.
        extends: true,
        test: {
          name: 'lab',
          include: LAB_TESTS,
          setupFiles: ['lab/env.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
