// What the services' checks need on the host: Postgres and Redis servers for the pytest suites, docker-compose for
// the compose smoke test, Chromium to read the dashboard as a person sees it, and the smoke test's Python venv.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import { CACHE, REPO } from '../lib/paths.mjs'
import { ensureApt, missingApt } from '../lib/apt.mjs'
import { runOrExplain } from '../lib/proc.mjs'

export const name = 'test-tools'

const PACKAGES = ['postgresql-15', 'redis-server', 'docker-compose', 'chromium', 'python3-venv']
const VENV = path.join(CACHE, 'venv', 'smoke')
const REQUIREMENTS = path.join(REPO, 'services/smoke/requirements.txt')
const requirementsHash = () => crypto.createHash('sha256').update(fs.readFileSync(REQUIREMENTS)).digest('hex')
const stampFile = path.join(VENV, '.requirements.sha256')
const venvCurrent = () => fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === requirementsHash()

export async function up() {
  const installed = await ensureApt(PACKAGES)
  if (!venvCurrent()) {
    fs.rmSync(VENV, { recursive: true, force: true })
    await $`/usr/bin/python3 -m venv ${VENV}`.quiet()
    await runOrExplain([`${VENV}/bin/pip`, 'install', '-q', '--require-hashes', '--only-binary=:all:', '-r', REQUIREMENTS], {
      tail: 5, what: 'installing the smoke test requirements failed', fix: 'check that PyPI answers, then run `make lab-up` again',
    })
    fs.writeFileSync(stampFile, requirementsHash())
  }
  return { note: installed.length ? `installed ${installed.join(' ')}` : 'present' }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const missing = await missingApt(PACKAGES)
  const ok = missing.length === 0 && venvCurrent()
  return [{ name, state: ok ? 'ok' : 'missing', version: '-', address: ok ? VENV : `missing: ${[...missing, ...(venvCurrent() ? [] : ['smoke venv'])].join(' ')}` }]
}

export function env() {
  return { LAB_SMOKE_PYTHON: path.join(VENV, 'bin', 'python') }
}
