#!/usr/bin/env node
// `make lab-down`: stops every process the lab started, in reverse order. Caches and data stay.
import { main, step } from './lib/step.mjs'
import { components } from './components/index.mjs'

await main(async () => {
  for (const c of [...components].reverse()) await step(`stop ${c.name}`, () => c.down())
})
