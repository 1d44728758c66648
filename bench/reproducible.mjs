#!/usr/bin/env node
// Are the images reproducible? Builds a service's runtime image twice from an empty engine cache (the engine's local
// cache pruned before each build), same commit and commit time, and compares the two images: their digests, then
// layer by layer, and inside each differing layer the files whose size or modification time differ.
//   npx tsx bench/reproducible.mjs [service ...]       (default: api analytics dashboard; needs `make lab-up`)
// Prunes the lab engine's cache: every later build starts cold once.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { $ } from 'zx'
import { connection, dag } from '@dagger.io/dagger'
import '../lab/env.ts'
import { labPipeline, repoSource } from '../lab/pipeline.ts'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const services = process.argv.slice(2).length ? process.argv.slice(2) : ['api', 'analytics', 'dashboard']
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-repro-'))
const commit = (await $`git -C ${REPO} log -1 --format=%H`).stdout.trim()

/** Builds every service from an empty cache and exports each image as an OCI tarball into dir. */
async function coldBuild(dir) {
  fs.mkdirSync(dir, { recursive: true })
  await connection(async () => {
    await dag.engine().localCache().prune()
    const pipeline = labPipeline(repoSource(), commit)
    for (const s of services) await pipeline.build(s).asTarball().export(path.join(dir, `${s}.tar`))
  })
}

/** The manifest of an OCI tarball: config digest and layer digests. */
async function manifestOf(tarball, dir) {
  fs.mkdirSync(dir, { recursive: true })
  await $`tar -xf ${tarball} -C ${dir}`
  const blob = (d) => path.join(dir, 'blobs', ...d.split(':'))
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'))
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8'))
  return { digest: index.manifests[0].digest, config: manifest.config.digest, layers: manifest.layers.map((l) => l.digest), blob }
}

/** path → "mode owner size mtime" of every entry of a layer. */
async function entries(file) {
  const lines = (await $`tar -tvzf ${file} --full-time`.quiet()).stdout.trim().split('\n')
  return new Map(lines.map((l) => { const f = l.split(/\s+/); return [f.slice(5).join(' '), f.slice(0, 5).join(' ')] }))
}

/** The leaves of two JSON values that differ, as "path: a | b" (e.g. "history[3].created: ... | ..."). */
function jsonDiff(a, b, at = '') {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return a === b ? [] : [`${at}: ${JSON.stringify(a)} | ${JSON.stringify(b)}`]
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].flatMap((k) => jsonDiff(a[k], b[k], Array.isArray(a) ? `${at}[${k}]` : at ? `${at}.${k}` : k))
}

const t0 = performance.now()
await coldBuild(path.join(work, 'a'))
await coldBuild(path.join(work, 'b'))
const report = {}
for (const s of services) {
  const a = await manifestOf(path.join(work, 'a', `${s}.tar`), path.join(work, 'a', s))
  const b = await manifestOf(path.join(work, 'b', `${s}.tar`), path.join(work, 'b', s))
  const differing = a.layers.map((d, i) => [i, d, b.layers[i]]).filter(([, x, y]) => x !== y)
  const layers = []
  for (const [i, x, y] of differing) {
    const [ea, eb] = [await entries(a.blob(x)), await entries(b.blob(y))]
    const changed = [...ea.keys()].filter((p) => ea.get(p) !== eb.get(p))
    const what = changed.slice(0, 8).map((p) => `${p}: ${ea.get(p)} | ${eb.get(p) ?? 'absent'}`)
    layers.push({ layer: i, files: changed.length, examples: what })
  }
  const configDiff = a.config === b.config ? [] : jsonDiff(JSON.parse(fs.readFileSync(a.blob(a.config), 'utf8')), JSON.parse(fs.readFileSync(b.blob(b.config), 'utf8')))
  report[s] = { same: a.digest === b.digest, digests: [a.digest, b.digest], configSame: a.config === b.config, configDiff, layers: a.layers.length, differingLayers: layers }
  console.log(`${s}: ${a.digest === b.digest ? 'identical' : 'DIFFERENT'} (${a.layers.length} layers, ${layers.length} differ; config ${a.config === b.config ? 'same' : 'differs'})`)
  for (const l of layers) console.log(`  layer ${l.layer}: ${l.files} entries differ, e.g.\n    ${l.examples.join('\n    ')}`)
  if (configDiff.length) console.log(`  config: ${configDiff.length} fields differ, e.g.\n    ${configDiff.slice(0, 8).join('\n    ')}`)
}
console.log(`two cold builds in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
console.log(JSON.stringify(report))
fs.rmSync(work, { recursive: true, force: true })
