#!/usr/bin/env node
// `make lab-up`: builds (or reuses) and starts every lab component, then writes the lab env file.
import { main, step } from './lib/step.mjs'
import { components, writeEnvFile } from './components/index.mjs'
import { ENV_FILE } from './lib/paths.mjs'

await main(async () => {
  const t0 = performance.now()
  for (const c of components) await step(c.name, () => c.up())
  writeEnvFile()
  console.log(`lab up in ${((performance.now() - t0) / 1000).toFixed(1)}s; env file: ${ENV_FILE}`)
})
