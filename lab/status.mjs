#!/usr/bin/env node
// `make lab-status`: one line per component: state, version, address. Exit 1 when something is not ok.
import { main } from './lib/step.mjs'
import { components } from './components/index.mjs'
import { ENV_FILE } from './lib/paths.mjs'

await main(async () => {
  const rows = (await Promise.all(components.map((c) => c.status()))).flat()
  const width = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) {
    console.log(`${r.name.padEnd(width)}  ${r.state.padEnd(7)}  ${(r.version ?? '-').padEnd(16)}  ${r.address ?? '-'}`)
  }
  console.log(`env file: ${ENV_FILE}`)
  // the cluster's admin kubeconfig: what the rows above were read with, and what KUBECONFIG_LAB names
  const { KUBECONFIG_LAB } = Object.assign({}, ...components.map((c) => c.env?.() ?? {}))
  if (KUBECONFIG_LAB) console.log(`kubeconfig: ${KUBECONFIG_LAB} (KUBECONFIG_LAB)`)
  if (rows.some((r) => r.state !== 'ok')) process.exitCode = 1
})
