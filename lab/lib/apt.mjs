// Debian packages the lab needs on the host, installed once when missing.
import { $ } from 'zx'
import { runOrExplain } from './proc.mjs'

let updated = false

/** The Debian packages of the list that are not installed. @param {string[]} packages */
export async function missingApt(packages) {
  const missing = []
  for (const pkg of packages) {
    const r = await $`dpkg-query -W -f=${'${Status}'} ${pkg}`.nothrow().quiet()
    if (!r.stdout.includes('install ok installed')) missing.push(pkg)
  }
  return missing
}

/**
 * The install running now: apt holds one lock, and lab-up's builds run beside the components' start.
 * @type {Promise<unknown>}
 */
let queue = Promise.resolve()

/**
 * Installs the Debian packages that are not installed yet, one call at a time in this process; returns their names.
 * @param {string[]} packages
 * @returns {Promise<string[]>}
 */
export function ensureApt(packages) {
  const run = queue.then(() => install(packages))
  queue = run.catch(() => undefined)
  return run
}

/** @param {string[]} packages */
async function install(packages) {
  const missing = await missingApt(packages)
  if (missing.length === 0) return []
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!updated) {
    await $({ env })`apt-get update -qq`.quiet()
    updated = true
  }
  await runOrExplain(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env, tail: 5, what: `installing ${missing.join(', ')} failed`, fix: 'check that the Debian mirror answers (apt-get update), then run `make lab-up` again',
  })
  return missing
}
