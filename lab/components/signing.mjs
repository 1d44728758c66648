// The lab's signing key: one cosign key pair, made once with the lab's own cosign and kept across `make lab-up` runs,
// the private key encrypted with a random password. The pipeline signs what the lab publishes with it and the
// cluster's admission controller verifies against its public key. A key, not Fulcio/Rekor: the lab has no OIDC issuer
// nor transparency log (docs/lab.md, "Signing").
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { runOrExplain } from '../lib/proc.mjs'
import { STATE } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { build as buildScanners, COSIGN_VERSION } from './scanners.mjs'

export const name = 'signing'

export const SIGNING_DIR = path.join(STATE, 'signing')
export const KEY_FILE = path.join(SIGNING_DIR, 'cosign.key')
export const PUBLIC_KEY_FILE = path.join(SIGNING_DIR, 'cosign.pub')
export const PASSWORD_FILE = path.join(SIGNING_DIR, 'password')
const FILES = [KEY_FILE, PUBLIC_KEY_FILE, PASSWORD_FILE]

/** Path of the host cosign binary the scanners component builds (built, or reused, on the way). */
export async function cosignBinary() {
  const { cosign } = await buildScanners()
  return path.join(cosign.dir, 'cosign')
}

/** sha256 of the public key's DER (SubjectPublicKeyInfo): the key's fingerprint, as `sha256:<hex>`. */
export function fingerprint(pem = fs.readFileSync(PUBLIC_KEY_FILE, 'utf8')) {
  const der = crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' })
  return `sha256:${crypto.createHash('sha256').update(der).digest('hex')}`
}

/** Makes the key pair in a scratch folder beside SIGNING_DIR and renames it in place, so a crash leaves no half key. @param {string} cosign */
async function generate(cosign) {
  const tmp = `${SIGNING_DIR}.partial`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(tmp, { recursive: true, mode: 0o700 })
  const password = crypto.randomBytes(24).toString('base64url')
  fs.writeFileSync(path.join(tmp, 'password'), password, { mode: 0o600 })
  // the password reaches cosign through its environment only: never an argument, never printed
  await runOrExplain([cosign, 'generate-key-pair', '--output-key-prefix', 'cosign'], {
    cwd: tmp, env: { ...process.env, COSIGN_PASSWORD: password }, tail: 4, what: 'making the lab signing key failed',
    fix: 'fix the error above (is the cosign build in the lab cache sound? `make lab-status`), then run `make lab-up`',
  }).catch((/** @type {unknown} */ err) => {
    fs.rmSync(tmp, { recursive: true, force: true })
    throw err
  })
  for (const f of ['cosign.key', 'cosign.pub', 'password']) fs.chmodSync(path.join(tmp, f), 0o600)
  fs.renameSync(tmp, SIGNING_DIR)
}

/** Refuses a signing folder that lost a file: making a new key would silently orphan every signature of the old one. */
function checkComplete() {
  const missing = FILES.filter((f) => !fs.existsSync(f))
  if (missing.length) {
    throw new LabError(`the lab signing key is incomplete (${missing.map((f) => path.basename(f)).join(', ')} missing)`,
      `${SIGNING_DIR} holds part of a key pair`,
      `restore the missing files, or remove ${SIGNING_DIR} to make a new key (images signed by the old key then fail verification; re-run \`make ci\`), then run \`make lab-up\``)
  }
}

/** Keeps the folder 0700 and the files 0600 (a copy or an editor may have widened them). */
function tightenModes() {
  fs.chmodSync(SIGNING_DIR, 0o700)
  for (const f of FILES) fs.chmodSync(f, 0o600)
}

export async function up() {
  if (!fs.existsSync(SIGNING_DIR)) {
    await generate(await cosignBinary())
    return { note: `made key ${fingerprint().slice(0, 23)}…` }
  }
  checkComplete()
  tightenModes()
  return { note: `key ${fingerprint().slice(0, 23)}… kept` }
}

export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const ok = FILES.every((f) => fs.existsSync(f))
  return [{
    name: 'signing-key',
    state: ok ? 'ok' : 'missing',
    version: `cosign ${COSIGN_VERSION}`,
    address: ok ? `${PUBLIC_KEY_FILE} (${fingerprint().slice(0, 23)}…)` : SIGNING_DIR,
  }]
}

export function env() {
  return {
    LAB_SIGNING_KEY_FILE: KEY_FILE,
    LAB_SIGNING_PASSWORD_FILE: PASSWORD_FILE,
    LAB_SIGNING_PUBLIC_KEY_FILE: PUBLIC_KEY_FILE,
  }
}
