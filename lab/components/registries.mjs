// Two registries from Debian's docker-registry, on 127.0.0.1 only:
// a mirror (anonymous) for base and tool images, and a release registry with htpasswd auth where the pipeline pushes.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { $ } from 'zx'
import YAML from 'yaml'
import { STATE, SECRETS } from '../lib/paths.mjs'
import { startDaemon, stopDaemon, runningPid, waitFor, ensurePortFree } from '../lib/proc.mjs'

export const name = 'registries'

export const MIRROR_PORT = Number(process.env.LAB_MIRROR_PORT ?? 5000)
export const RELEASE_PORT = Number(process.env.LAB_RELEASE_PORT ?? 5001)
export const MIRROR = `127.0.0.1:${MIRROR_PORT}`
export const RELEASE = `127.0.0.1:${RELEASE_PORT}`
export const RELEASE_USER = 'pipeline'
const PASSWORD_FILE = path.join(SECRETS, 'registry-password')
const HTPASSWD = path.join(STATE, 'registry', 'htpasswd')

const registries = [
  { id: 'registry-mirror', port: MIRROR_PORT, envVar: 'LAB_MIRROR_PORT', auth: false },
  { id: 'registry-release', port: RELEASE_PORT, envVar: 'LAB_RELEASE_PORT', auth: true },
]

/**
 * The registry's configuration (distribution's config.yml, as JSON).
 * @param {{ id: string, port: number, auth: boolean }} registry
 */
function config({ id, port, auth }) {
  return {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: path.join(STATE, 'registry', id) }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: crypto.randomBytes(16).toString('hex') },
    ...(auth ? { auth: { htpasswd: { realm: 'gmi-lab-release', path: HTPASSWD } } } : {}),
  }
}

/** The release registry's password: made once, kept in the lab's secrets folder (mode 0600). */
async function ensureCredentials() {
  fs.mkdirSync(SECRETS, { recursive: true, mode: 0o700 })
  if (!fs.existsSync(PASSWORD_FILE)) fs.writeFileSync(PASSWORD_FILE, crypto.randomBytes(18).toString('base64url'), { mode: 0o600 })
  if (!fs.existsSync(HTPASSWD)) {
    fs.mkdirSync(path.dirname(HTPASSWD), { recursive: true })
    // -i reads the password from stdin, so it never shows in a process list.
    await $`htpasswd -iBc ${HTPASSWD} ${RELEASE_USER} < ${PASSWORD_FILE}`.quiet()
  }
}

/** A check: the registry on `port` answers its API. @param {number} port */
const answers = (port) => async () => {
  const r = await fetch(`http://127.0.0.1:${port}/v2/`)
  return r.status === 200 || r.status === 401
}

/** Debian's packaged registry service listens on all interfaces with its own auth: the lab runs its own instead. */
async function stopPackagedService() {
  await $`service docker-registry stop`.nothrow().quiet()
}

export async function up() {
  await stopPackagedService()
  await ensureCredentials()
  const started = []
  for (const r of registries) {
    if (runningPid(r.id)) continue
    await ensurePortFree(r.id, r.port, r.envVar)
    const file = path.join(STATE, 'registry', `${r.id}.yml`)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, YAML.stringify(config(r)))
    startDaemon(r.id, '/usr/bin/docker-registry', ['serve', file])
    started.push(r.id)
  }
  for (const r of registries) await waitFor(r.id, answers(r.port), 20000)
  return { note: started.length ? `started ${started.join(', ')}` : 'already running' }
}

export async function down() {
  for (const r of registries) await stopDaemon(r.id)
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const version = (await $`docker-registry --version`.nothrow().quiet()).stdout.split(' ').at(-1)?.trim()
  return Promise.all(registries.map(async (r) => ({
    name: r.id,
    state: (await answers(r.port)().catch(() => false)) ? 'ok' : fs.existsSync('/usr/bin/docker-registry') ? 'down' : 'missing',
    version: version || undefined,
    address: `127.0.0.1:${r.port}${r.auth ? ` (auth: ${RELEASE_USER})` : ''}`,
  })))
}

export function env() {
  return {
    LAB_MIRROR: MIRROR,
    LAB_RELEASE_REGISTRY: RELEASE,
    LAB_RELEASE_USER: RELEASE_USER,
    LAB_RELEASE_PASSWORD_FILE: PASSWORD_FILE,
  }
}
