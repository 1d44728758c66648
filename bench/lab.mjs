#!/usr/bin/env node
// Measures `lab-up`: warm (everything built and running: the idempotent path) and, with --cold, from nothing
// (a fresh LAB_HOME; ALL of this machine's Docker containers, images, volumes and build cache removed; Debian
// packages stay installed).
// With --cold-builds, only the Go builds of each component run, from empty Go caches (a fresh LAB_HOME), without
// touching the running lab. Prints one line per step and the total.
// Usage: node bench/lab.mjs [--cold | --cold-builds] [--runs N]
import os from 'node:os'
import fs from 'node:fs'
import path from 'node:path'
import { $, argv } from 'zx'
import { REPO } from '../lab/lib/paths.mjs'

$.verbose = false
const runs = Number(argv.runs ?? 3)

/** Runs lab/up.mjs once and returns its step durations (seconds) and the wall time. */
async function labUp(env = {}) {
  const t0 = performance.now()
  const r = await $({ env: { ...process.env, ...env }, cwd: REPO })`node lab/up.mjs`.nothrow()
  if (r.exitCode !== 0) throw new Error(`lab-up failed:\n${r.stdout}\n${r.stderr}`)
  const steps = Object.fromEntries([...r.stdout.matchAll(/^✓ (\S+) \(([\d.]+)s\)/gm)].map((m) => [m[1], Number(m[2])]))
  return { steps, total: (performance.now() - t0) / 1000 }
}

const print = (label, { steps, total }) => {
  console.log(`${label}: total ${total.toFixed(1)}s`)
  for (const [k, v] of Object.entries(steps)) console.log(`  ${k.padEnd(14)} ${v.toFixed(1)}s`)
}

if (argv['cold-builds']) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-lab-builds-'))
  const script = `
    const { components } = await import(${JSON.stringify(path.join(REPO, 'lab/components/index.mjs'))})
    const fs = await import('node:fs')
    // CPU seconds of every finished child process (utime+stime of waited-for descendants: the go builds)
    const childCpu = () => { const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[13]) + Number(f[14])) / 100 }
    for (const c of components.filter((c) => c.build)) {
      const t0 = performance.now(), cpu0 = childCpu()
      await c.build()
      console.log('✓ ' + c.name + ' (' + ((performance.now() - t0) / 1000).toFixed(1) + 's) cpu ' + (childCpu() - cpu0).toFixed(0) + 's')
    }`
  const t0 = performance.now()
  const p = $({ env: { ...process.env, LAB_HOME: home } })`node --input-type=module -e ${script}`
  p.stdout.pipe(process.stdout) // each component's line as it finishes: a cold run is long
  const r = await p
  const steps = Object.fromEntries([...r.stdout.matchAll(/^✓ (\S+) \(([\d.]+)s\)/gm)].map((m) => [m[1], Number(m[2])]))
  print('cold Go builds (empty module and build caches)', { steps, total: (performance.now() - t0) / 1000 })
  console.log('CPU seconds per component (load-independent; wall time on an idle 2-core machine is about half):')
  for (const m of r.stdout.matchAll(/^✓ (\S+) .*cpu (\d+)s$/gm)) console.log(`  ${m[1].padEnd(14)} ${m[2]}s`)
  fs.rmSync(home, { recursive: true, force: true })
} else if (argv.cold) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-lab-cold-'))
  // While Docker still runs: drop every container, image, volume and the build cache (this is what "cold" means:
  // only Debian packages and the repo's node_modules stay). Do not run --cold on a machine whose Docker you keep.
  const containers = (await $`docker ps -aq`.nothrow()).stdout.trim().split('\n').filter(Boolean)
  if (containers.length) await $`docker rm -f ${containers}`.nothrow()
  await $`/usr/bin/docker system prune -af --volumes`.nothrow()
  await $`/usr/bin/docker builder prune -af`.nothrow()
  await $({ cwd: REPO })`node lab/down.mjs`.nothrow()
  print(`cold lab-up (LAB_HOME=${home})`, await labUp({ LAB_HOME: home }))
  await $({ cwd: REPO, env: { ...process.env, LAB_HOME: home } })`node lab/down.mjs`.nothrow()
  console.log(`(cold lab left in ${home}; run \`make lab-up\` to bring the usual lab back)`)
} else {
  await labUp() // make sure everything is built and running
  const totals = []
  for (let i = 0; i < runs; i++) {
    const r = await labUp()
    totals.push(r.total)
    print(`warm lab-up #${i + 1}`, r)
  }
  totals.sort((a, b) => a - b)
  console.log(`warm lab-up: median ${totals[Math.floor(totals.length / 2)].toFixed(1)}s over ${runs} runs`)
}
