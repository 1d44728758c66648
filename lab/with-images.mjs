#!/usr/bin/env node
// Pulls the images a pipeline run published (its images.json) into the lab's Docker by digest, then runs a command
// with API_IMAGE, ANALYTICS_IMAGE and DASHBOARD_IMAGE naming those digests:
//   node lab/with-images.mjs .ci-out/ci/images.json -- services/smoke/compose_smoke.py
// The release registry's password is read from its file into `docker login --password-stdin`, inside a throw-away
// DOCKER_CONFIG that is removed after the pulls: it is never printed, never passed as an argument, never kept.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { $ } from 'zx'
import { LabError, main } from './lib/step.mjs'

/** @type {Record<string, string>} */
const VARIABLE = { api: 'API_IMAGE', analytics: 'ANALYTICS_IMAGE', dashboard: 'DASHBOARD_IMAGE' }

/** name:tag@sha256:… → name@sha256:… (the digest is what is pulled and run). */
const byDigest = (/** @type {string} */ ref) => ref.replace(/:[^/@]+(@sha256:[0-9a-f]{64})$/, '$1')

/** The images file's digests by variable (API_IMAGE, ...). @param {string} file @returns {Record<string, string>} */
function readImages(file) {
  if (!fs.existsSync(file)) throw new LabError(`no images file ${file}`, 'the pipeline has not published yet', 'run `make ci` first')
  const images = JSON.parse(fs.readFileSync(file, 'utf8'))
  const missing = Object.keys(VARIABLE).filter((s) => !/@sha256:[0-9a-f]{64}$/.test(images[s] ?? ''))
  if (missing.length) throw new LabError(`${file} has no digest for ${missing.join(', ')}`, 'the run did not publish every service', 'run `make ci` first')
  return Object.fromEntries(Object.entries(VARIABLE).map(([s, v]) => [v, byDigest(images[s])]))
}

/** Pulls the images with a throw-away login to the release registry. @param {string[]} refs */
async function pull(refs) {
  const { LAB_RELEASE_REGISTRY: registry, LAB_RELEASE_PASSWORD_FILE: passwordFile, LAB_RELEASE_USER: user } = process.env
  if (!registry || !passwordFile || !user) {
    throw new LabError('the release registry is not named', 'LAB_RELEASE_REGISTRY, LAB_RELEASE_USER and LAB_RELEASE_PASSWORD_FILE come from the lab env file',
      'run it through make (which loads the lab env), or load ~/.graphmemory-lab/state/lab.env first')
  }
  const config = fs.mkdtempSync(path.join(os.tmpdir(), 'gmi-docker-'))
  const docker = $({ env: { ...process.env, DOCKER_CONFIG: config }, quiet: true, nothrow: true })
  try {
    const login = await docker({ input: fs.readFileSync(passwordFile) })`docker login ${registry} -u ${user} --password-stdin`
    if (login.exitCode !== 0) throw new LabError(`docker login to ${registry} failed`, login.stderr.trim(), 'run `make lab-up` (it writes the registry credentials)')
    for (const ref of refs) {
      const r = await docker`docker pull -q ${ref}`
      if (r.exitCode !== 0) throw new LabError(`pulling ${ref} failed`, r.stderr.trim(), 'check the registry with `make lab-status`')
      process.stderr.write(`pulled ${ref}\n`)
    }
  } finally {
    fs.rmSync(config, { recursive: true, force: true })
  }
}

await main(async () => {
  const sep = process.argv.indexOf('--')
  const [file] = process.argv.slice(2, sep < 0 ? undefined : sep)
  const command = sep < 0 ? [] : process.argv.slice(sep + 1)
  if (!file || command.length === 0) throw new LabError('usage', 'node lab/with-images.mjs IMAGES.json -- COMMAND [ARGS]', 'name the images file and the command')
  const images = readImages(file)
  await pull(Object.values(images))
  const r = await $({ env: { ...process.env, ...images }, stdio: 'inherit', nothrow: true })`${command}`
  process.exit(r.exitCode ?? 1)
})
