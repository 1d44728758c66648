// The lab's S3-compatible object store, where the environments' backups go: `rclone serve s3` from rclone v1.75.1
// (github.com/rclone/rclone, MIT; MinIO is AGPL) built from the Go module proxy by lab/go/rclone, a wrapper main that
// compiles in only the `serve s3` command and the local backend (a smaller binary and a shorter cold build than
// upstream's main, which imports every backend and command: docs/lab.md has both figures).
//
// A daemon on the host, not a pod: the backups must outlive the namespace, its claims and the cluster. Buckets are
// folders under state/object-store/data. It listens on 127.0.0.1 (the host: tests, benches, the module's library
// mode) and on the real node's bridge address (NODE_IP), which the node's pods reach directly; the lab-backup kustomize
// component lets the backup pods through the NetworkPolicies to exactly that address and port.
// The access key pair is made once and kept as two files (mode 0600) in the lab's secrets folder; lab.env names the
// files, never the values. The daemon reads the pair from its environment (RCLONE_AUTH_KEY), not from its arguments,
// so it never shows in a process list. The lab's deploy secrets (deployer.mjs) give the same pair to every deploy as
// the Secret the backup component reads (graphmemory-backup-s3).
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { STATE, SECRETS } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { goBuild } from '../lib/gobuild.mjs'
import { startDaemon, stopDaemon, runningPid, runningArgs, waitFor, ensurePortFree } from '../lib/proc.mjs'
import * as node from './node.mjs'

export const name = 'object-store'

export const VERSION = 'v1.75.1' // github.com/rclone/rclone in lab/go/rclone/go.mod
/** The port on both addresses (fixed: k8s/components/lab-backup names it in a NetworkPolicy and the endpoint). */
export const PORT = 9190
/** The bucket the environments' backups go to (one prefix per namespace inside it). */
export const BUCKET = 'graphmemory-backups'
/** The Secret the backup component reads its access key pair from (on every overlay's required-secrets.yaml). */
export const BACKUP_SECRET = 'graphmemory-backup-s3'
/** Where the buckets' folders are. */
export const DATA = path.join(STATE, 'object-store', 'data')
export const ACCESS_KEY_ID_FILE = path.join(SECRETS, 'object-store-access-key-id')
export const SECRET_ACCESS_KEY_FILE = path.join(SECRETS, 'object-store-secret-access-key')
const DAEMON = 'object-store'

/** The endpoint from the host. */
export const HOST_URL = `http://127.0.0.1:${PORT}`
/** The endpoint from the real node's pods (the node's bridge address). */
export const POD_URL = `http://${node.NODE_IP}:${PORT}`

/**
 * Builds (or finds cached) the wrapper's rclone at the lowest CPU priority.
 * @returns {Promise<{ dir: string, built: boolean }>}
 */
export function build() {
  return goBuild({
    module: 'rclone', version: VERSION, nice: true,
    targets: [{ pkg: 'graphmemory.dev/lab/rclone', out: 'rclone', ldflags: `-X github.com/rclone/rclone/fs.Version=${VERSION}` }],
  })
}

/** Makes the access key pair once (two files, mode 0600); a second call keeps it. */
function ensureCredentials() {
  fs.mkdirSync(SECRETS, { recursive: true, mode: 0o700 })
  if (!fs.existsSync(ACCESS_KEY_ID_FILE)) fs.writeFileSync(ACCESS_KEY_ID_FILE, `GMI${crypto.randomBytes(8).toString('hex').toUpperCase()}`, { mode: 0o600 })
  if (!fs.existsSync(SECRET_ACCESS_KEY_FILE)) fs.writeFileSync(SECRET_ACCESS_KEY_FILE, crypto.randomBytes(24).toString('base64url'), { mode: 0o600 })
}

/**
 * The access key pair, read from its files (made on first use: the deployer component writes it into the lab's deploy
 * secrets before this component's up() runs).
 * @returns {{ accessKeyId: string, secretAccessKey: string }}
 */
export function credentials() {
  ensureCredentials()
  return { accessKeyId: fs.readFileSync(ACCESS_KEY_ID_FILE, 'utf8').trim(), secretAccessKey: fs.readFileSync(SECRET_ACCESS_KEY_FILE, 'utf8').trim() }
}

/** The key pair as the keys of the Secret the backup component reads (BACKUP_SECRET). */
export function backupSecretValues() {
  const { accessKeyId, secretAccessKey } = credentials()
  return { 'access-key-id': accessKeyId, 'secret-access-key': secretAccessKey }
}

/**
 * The daemon's arguments: both addresses, the data folder, no VFS cache (the local backend writes in place).
 * @param {string} bin
 * @returns {string[]}
 */
const args = (bin) => [bin, 'serve', 's3', DATA, '--addr', `127.0.0.1:${PORT}`, '--addr', `${node.NODE_IP}:${PORT}`, '--log-level', 'NOTICE']

/** True when the store answers an S3 request on the host address (an unsigned one is refused with an S3 error). */
const answers = async () => {
  const r = await fetch(`${HOST_URL}/`)
  return (await r.text()).includes('<Error><Code>')
}

/** @returns {Promise<{ note: string, built: boolean, buildSeconds: number }>} */
export async function up() {
  const t0 = performance.now()
  if ((await node.status())[0].state !== 'ok') {
    throw new LabError('the object store needs the real node', `its pods reach the store at ${node.NODE_IP}, the node's bridge, which is not up`, 'run `make lab-up` (the node component comes first)')
  }
  const bin = await build()
  const buildSeconds = Number(((performance.now() - t0) / 1000).toFixed(1))
  ensureCredentials()
  fs.mkdirSync(path.join(DATA, BUCKET), { recursive: true, mode: 0o700 })
  const [cmd, ...rest] = args(path.join(bin.dir, 'rclone'))
  const running = runningArgs(DAEMON)
  if (running && (bin.built || JSON.stringify(running) !== JSON.stringify(rest))) await stopDaemon(DAEMON)
  if (!runningPid(DAEMON)) {
    await ensurePortFree(DAEMON, PORT, 'nothing (the port is fixed)')
    const { accessKeyId, secretAccessKey } = credentials()
    // a list flag read from the environment is CSV: the quotes keep the pair one item
    startDaemon(DAEMON, cmd, rest, { env: { RCLONE_AUTH_KEY: `"${accessKeyId},${secretAccessKey}"`, RCLONE_CONFIG: '/dev/null' } })
  }
  await waitFor(DAEMON, answers, 20000)
  return { note: `${HOST_URL} (pods: ${POD_URL}), bucket ${BUCKET}${bin.built ? `; built rclone ${VERSION} in ${buildSeconds}s` : ''}`, built: bin.built, buildSeconds }
}

/** Stops the daemon; the buckets' folders stay. */
export async function down() {
  await stopDaemon(DAEMON)
  return { note: `backups kept in ${DATA}` }
}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const ok = runningPid(DAEMON) !== undefined && (await answers().catch(() => false))
  return [{ name, state: ok ? 'ok' : runningPid(DAEMON) ? 'down' : 'missing', version: `rclone ${VERSION}`, address: `${HOST_URL}, ${POD_URL} → ${DATA}` }]
}

/** @returns {Record<string, string>} */
export function env() {
  return {
    LAB_OBJECT_STORE_URL: HOST_URL,
    LAB_OBJECT_STORE_POD_URL: POD_URL,
    LAB_OBJECT_STORE_BUCKET: BUCKET,
    LAB_OBJECT_STORE_ACCESS_KEY_ID_FILE: ACCESS_KEY_ID_FILE,
    LAB_OBJECT_STORE_SECRET_ACCESS_KEY_FILE: SECRET_ACCESS_KEY_FILE,
  }
}

