#!/usr/bin/env node
// `make lab-up`: builds (or reuses) and starts every lab component, then writes the lab env file. The components' Go
// builds start ahead, two at a time (lab/lib/build-ahead.mjs); each component starts once its own build has ended.
import { main, step } from './lib/step.mjs'
import { buildAhead } from './lib/build-ahead.mjs'
import { components, writeEnvFile } from './components/index.mjs'
import { ENV_FILE } from './lib/paths.mjs'

await main(async () => {
  const t0 = performance.now()
  const built = buildAhead(components)
  for (const c of components) {
    await step(c.name, async () => {
      await built.get(c)
      return c.up()
    })
  }
  writeEnvFile()
  console.log(`lab up in ${((performance.now() - t0) / 1000).toFixed(1)}s; env file: ${ENV_FILE}`)
})
