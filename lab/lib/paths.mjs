// Where the lab keeps what it builds (cache) and what it runs (state): outside the repo, reused across runs.
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const LAB_HOME = process.env.LAB_HOME ?? path.join(os.homedir(), '.graphmemory-lab')
export const CACHE = path.join(LAB_HOME, 'cache')
export const STATE = path.join(LAB_HOME, 'state')
export const RUN = path.join(STATE, 'run')
export const LOGS = path.join(STATE, 'logs')
export const SECRETS = path.join(STATE, 'secrets')
export const ENV_FILE = path.join(STATE, 'lab.env')

/** Path of a file under the lab's go build caches. @param {string[]} p */
export const goCache = (...p) => path.join(CACHE, 'go', ...p)
/** Path of a built binary folder for a component at a version. @param {string} name @param {string} version */
export const binDir = (name, version) => path.join(CACHE, 'bin', `${name}-${version}`)
