// The lab's signing key (`make lab-up`): the files lab.env names exist with tight modes, and the key pair really
// signs and verifies with the lab's cosign, offline (no transparency log), while a changed blob or another key fails.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as signing from './signing.mjs'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run \`make lab-up\` and load ~/.graphmemory-lab/state/lab.env`)
  return v
}

let cosign: string
let tmp: string

/** Runs the lab's cosign; the password goes through the environment only. */
function run(args: string[], password?: string) {
  const r = spawnSync(cosign, args, { cwd: tmp, encoding: 'utf8', env: { ...process.env, COSIGN_PASSWORD: password ?? '' } })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

const signBlob = (key: string, password: string, blob: string, bundle: string) =>
  run(['sign-blob', '--key', key, '--tlog-upload=false', '--use-signing-config=false', '--bundle', bundle, '--yes', blob], password)
const verifyBlob = (pub: string, blob: string, bundle: string) =>
  run(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--bundle', bundle, blob])

beforeAll(async () => {
  cosign = await signing.cosignBinary()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-signing-'))
})
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe('the lab signing key', () => {
  it('is where lab.env says, the files 0600 and the folder 0700', () => {
    const files = [env('LAB_SIGNING_KEY_FILE'), env('LAB_SIGNING_PASSWORD_FILE'), env('LAB_SIGNING_PUBLIC_KEY_FILE')]
    expect(files).toEqual([signing.KEY_FILE, signing.PASSWORD_FILE, signing.PUBLIC_KEY_FILE])
    for (const f of files) expect((fs.statSync(f).mode & 0o777).toString(8), f).toBe('600')
    expect((fs.statSync(path.dirname(files[0])).mode & 0o777).toString(8)).toBe('700')
    expect(fs.readFileSync(files[0], 'utf8')).toMatch(/ENCRYPTED SIGSTORE PRIVATE KEY/)
  })

  it('signs a blob that verifies with the public key, offline; a changed blob does not verify', () => {
    const blob = path.join(tmp, 'blob.txt')
    const bundle = path.join(tmp, 'blob.bundle')
    fs.writeFileSync(blob, `signed at ${new Date().toISOString()}\n`)
    const password = fs.readFileSync(env('LAB_SIGNING_PASSWORD_FILE'), 'utf8')
    const signed = signBlob(env('LAB_SIGNING_KEY_FILE'), password, blob, bundle)
    expect(signed.code, signed.out).toBe(0)
    expect(signed.out).not.toContain(password)

    const ok = verifyBlob(env('LAB_SIGNING_PUBLIC_KEY_FILE'), blob, bundle)
    expect(ok.code, ok.out).toBe(0)
    expect(ok.out).toMatch(/Verified OK/)

    fs.appendFileSync(blob, 'tampered\n')
    const bad = verifyBlob(env('LAB_SIGNING_PUBLIC_KEY_FILE'), blob, bundle)
    expect(bad.code, bad.out).not.toBe(0)
  })

  it('refuses a signature made by another key', () => {
    const other = run(['generate-key-pair', '--output-key-prefix', 'other'], 'other-password')
    expect(other.code, other.out).toBe(0)
    const blob = path.join(tmp, 'other.txt')
    const bundle = path.join(tmp, 'other.bundle')
    fs.writeFileSync(blob, 'signed by another key\n')
    expect(signBlob(path.join(tmp, 'other.key'), 'other-password', blob, bundle).code).toBe(0)
    expect(verifyBlob(path.join(tmp, 'other.pub'), blob, bundle).code).toBe(0)
    const r = verifyBlob(env('LAB_SIGNING_PUBLIC_KEY_FILE'), blob, bundle)
    expect(r.code, r.out).not.toBe(0)
  })

  it('keeps the same key across runs of up()', async () => {
    const before = signing.fingerprint()
    await signing.up()
    expect(signing.fingerprint()).toBe(before)
    expect(before).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
})
