// The registry adapter: reference parsing, and which failures are reported as authentication failures — checked on
// the texts registries really send, and end to end through the lab's Dagger engine against real docker-registry 2.8
// servers: the lab's release registry (htpasswd) and throw-away ones this file starts (read-only maintenance mode,
// storage the registry cannot write).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { connection, dag } from '@dagger.io/dagger'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { freePort } from '../../../lab/lib/proc.mjs'
import { explainRegistryError, isAuthFailure, publish, registryOf } from './registry.js'
import { poll } from './poll.js'

const nonce = () => crypto.randomBytes(6).toString('hex')

describe('registryOf', () => {
  it.each([
    ['127.0.0.1:5001/gmi/api:1', '127.0.0.1:5001'],
    ['ghcr.io/org/api@sha256:abc', 'ghcr.io'],
    ['localhost/api', 'localhost'],
    ['library/python:3.11', 'docker.io'],
    ['alpine', 'docker.io'],
  ])('%s → %s', (ref, host) => expect(registryOf(ref)).toBe(host))
})

describe('explainRegistryError', () => {
  // Auth failures, as registries and clients word them. The first three bodies are what the lab's docker-registry
  // 2.8.2 answers (captured with curl): no credentials and a wrong password get the same 401.
  it.each([
    ['401 body of docker-registry 2.8 (no or wrong credentials)', '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"lab-test/x","Action":"pull"}]}]}'],
    ['docker login with a wrong password', 'Error response from daemon: login attempt to http://127.0.0.1:5001/v2/ failed with status: 401 Unauthorized'],
    ['a 403 status line', 'unexpected status from PUT request to https://r.example/v2/a/manifests/1: 403 Forbidden'],
    ['status: 401', 'failed to fetch anonymous token: unexpected status: 401'],
    ['HTTP status code', 'GET https://r.example/v2/: HTTP 403'],
    ['distribution UNAUTHORIZED', 'unauthorized: authentication required'],
    ['Docker Hub DENIED', 'denied: requested access to the resource is denied'],
    // what the lab's Dagger engine (v0.19.10) reports for a push with a wrong password and a pull without credentials
    ['engine: push with a wrong password', 'failed to export: failed to push 127.0.0.1:5001/lab-test/dbg:68776b61a194: unexpected status from HEAD request to http://127.0.0.1:5001/v2/lab-test/dbg/blobs/sha256:17ab6d074c7a3ee2d8c15f5a0079097c499d019a016175ccf59c601547f54633: 401 Unauthorized'],
    ['engine: pull by digest without credentials', 'failed to resolve image "127.0.0.1:5001/lab-test/dbg:6c0d02685da3@sha256:5b2534e78de8a7a392b7c262c992549259549dfb075af58d660b4b18883d50c0" (platform: "linux/amd64"): failed to resolve source metadata for 127.0.0.1:5001/lab-test/dbg:6c0d02685da3@sha256:5b2534e78de8a7a392b7c262c992549259549dfb075af58d660b4b18883d50c0: unexpected status from HEAD request to http://127.0.0.1:5001/v2/lab-test/dbg/manifests/sha256:5b2534e78de8a7a392b7c262c992549259549dfb075af58d660b4b18883d50c0: 401 Unauthorized'],
    ['docker CLI without a login', 'Error response from daemon: Head "http://127.0.0.1:5001/v2/a/manifests/sha256:ab": no basic auth credentials'],
  ])('%s → authentication failed', (_what, detail) => {
    expect(isAuthFailure(detail)).toBe(true)
    const e = explainRegistryError(new Error(detail), 'r.example:5001', 'push of x')
    expect(e.message).toBe('push of x to r.example:5001: authentication failed. Check the username and the password secret given for r.example:5001.')
  })

  // Refusals that are not about credentials, even when the text holds "denied", "401" or "403" elsewhere. The
  // registry bodies are docker-registry 2.8.2's real answers (captured with curl against the lab's registries).
  it.each([
    ['400 MANIFEST_INVALID', '{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}}]}'],
    ['400 MANIFEST_BLOB_UNKNOWN', '{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}'],
    ['404 MANIFEST_UNKNOWN of a PR tag', 'failed to resolve 127.0.0.1:5001/gmi/api:pr-403: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'],
    ['engine: push to a registry in read-only mode (405)', 'failed to export: failed to push 127.0.0.1:46531/lab-test/readonly:pr-403-4e1f85e92700: unexpected status from POST request to http://127.0.0.1:46531/v2/lab-test/readonly/blobs/uploads/: 405 Method Not Allowed'],
    ['storage permission denied (500)', 'filesystem: mkdir /var/lib/docker-registry/docker: permission denied'],
    ['local socket', 'dial unix /var/run/docker.sock: connect: permission denied'],
    ['a size', 'short read: expected 1403 bytes but got 401'],
  ])('%s → not an auth failure, first line kept', (_what, detail) => {
    expect(isAuthFailure(detail)).toBe(false)
    const e = explainRegistryError(new Error(`${detail}\nmore`), 'r:1', 'push of x')
    expect(e.message).toBe(`push of x to r:1 failed: ${detail}`)
  })

  it('says "from" for a pull', () => {
    const e = explainRegistryError(new Error('401 Unauthorized'), 'r:1', 'pull of r:1/a@sha256:ab', 'from')
    expect(e.message).toMatch(/^pull of r:1\/a@sha256:ab from r:1: authentication failed/)
  })
})

// ---- against real registries, through the lab's Dagger engine ---------------------------------------------------

async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}


/** A docker-registry of this test's own on 127.0.0.1 (the engine runs with host networking, so it reaches it). */
class ThrowawayRegistry {
  proc?: ChildProcess
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-test-registry-'))
  address = ''
  log = ''

  /** storage: 'readonly' = distribution's maintenance read-only mode; 'unwritable' = run as `nobody` over a
   *  root-owned storage folder. */
  async start(mode: 'readonly' | 'unwritable') {
    const port = await freePort()
    this.address = `127.0.0.1:${port}`
    const store = path.join(this.dir, 'store')
    fs.mkdirSync(store, { mode: 0o755 })
    fs.chmodSync(this.dir, 0o755)
    const config = path.join(this.dir, 'config.yml')
    fs.writeFileSync(config, [
      'version: 0.1',
      'log: {level: info, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${store}}${mode === 'readonly' ? ', maintenance: {readonly: {enabled: true}}' : ''}}`,
      `http: {addr: "${this.address}", secret: ${nonce()}}`,
    ].join('\n'))
    const [cmd, args] = mode === 'unwritable' && process.getuid?.() === 0
      ? ['runuser', ['-u', 'nobody', '--', '/usr/bin/docker-registry', 'serve', config]]
      : ['/usr/bin/docker-registry', ['serve', config]]
    this.proc = spawn(cmd, args as string[], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc.stderr!.on('data', (d) => { this.log += d })
    this.proc.stdout!.on('data', (d) => { this.log += d })
    let seen = 'no answer'
    await poll(async () => {
      const r = await fetch(`http://${this.address}/v2/`).catch((err: Error) => err)
      seen = r instanceof Error ? `${r.message} ${String((r.cause as Error | undefined)?.message ?? '')}`.trim() : `HTTP ${r.status}`
      return seen === 'HTTP 200' ? true : undefined
    }, { timeoutMs: 10000, everyMs: 100, onTimeout: () => { throw new Error(`docker-registry did not answer on ${this.address} (last: ${seen}): ${this.log}`) } })
    return this
  }

  stop() {
    this.proc?.kill()
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

describe('registry errors from real registries (lab engine)', () => {
  const readonly = new ThrowawayRegistry()
  const unwritable = new ThrowawayRegistry()
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root: the unwritable registry runs as `nobody` over root-owned storage')
    await Promise.all([readonly.start('readonly'), unwritable.start('unwritable')])
  })
  afterAll(() => { readonly.stop(); unwritable.stop() })

  const image = () => dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withNewFile('/x', nonce())

  it('a wrong password on the lab release registry is reported as an authentication failure', async () => {
    const registry = labVar('LAB_RELEASE_REGISTRY')
    const attempt = inSession(() => publish(image(), `${registry}/lab-test/auth:${nonce()}`, {
      address: registry, username: labVar('LAB_RELEASE_USER'), password: dag.setSecret(`wrong-${nonce()}`, 'not-the-password'),
    }))
    await expect(attempt).rejects.toThrow(`to ${registry}: authentication failed`)
  })

  // A tag named after a pull request (pr-403) is an ordinary reference: it must not turn a refusal into "auth".
  it('a push refused by a registry in read-only mode (405) is not reported as an authentication failure', async () => {
    const ref = `${readonly.address}/lab-test/readonly:pr-403-${nonce()}`
    const err = await inSession(() => publish(image(), ref)).then(() => null, (e: Error) => e)
    expect(err, 'the read-only registry accepted a push').not.toBeNull()
    expect(err!.message).toContain(`push of ${ref} to ${readonly.address} failed: `)
    expect(err!.message).toContain('405 Method Not Allowed')
    expect(err!.message).not.toContain('authentication failed')
  })

  it('a push failing on the registry storage (500, permission denied on disk) is not an authentication failure', async () => {
    const ref = `${unwritable.address}/lab-test/unwritable:pr-401-${nonce()}`
    const err = await inSession(() => publish(image(), ref)).then(() => null, (e: Error) => e)
    expect(err, 'the registry with unwritable storage accepted a push').not.toBeNull()
    expect(err!.message).toContain(`push of ${ref} to ${unwritable.address} failed: `)
    expect(err!.message).toContain('500 Internal Server Error')
    expect(err!.message).not.toContain('authentication failed')
    expect(unwritable.log).toContain('permission denied') // the registry's own account of why
  })
})
