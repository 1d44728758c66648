// The registry helpers of lab/lib/images.mjs against the lab's mirror registry (a lab test: vitest.config.ts LAB_TESTS):
// a digest is read whatever the manifest's type (a Docker image and an OCI artifact alike), a missing tag and a
// registry that does not answer read as such, and deleteTags removes exactly the tags it is given.
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import { deleteTags, imageState, manifestDigest, parseRef, pinnedRef, registryTags } from './images.mjs'

const DIGEST = /^sha256:[0-9a-f]{64}$/
const docker = (args: string[], input?: string) => execFileSync('docker', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] }).trim()

describe('lab registry helpers (the mirror)', () => {
  const debian = labVar('LAB_IMAGE_DEBIAN') // a Docker image (docker import)
  const mirror = parseRef(debian)!.host
  const repo = `lab-test/images-${crypto.randomBytes(4).toString('hex')}`
  afterAll(async () => {
    await deleteTags(mirror, repo, await registryTags(mirror, repo))
    for (const tag of ['a', 'c']) spawnQuiet('docker', 'rmi', `${mirror}/${repo}:${tag}`)
  })

  it('reads the digest of a Docker image and of an OCI artifact; a missing tag has none', async () => {
    const p = parseRef(debian)!
    expect(await manifestDigest(p.host, p.repo, p.tag)).toMatch(DIGEST)
    // the scanners' vulnerability DB is an OCI artifact (oras-style manifest): it must not read as missing
    const db = parseRef(labVar('LAB_TRIVY_DB_REPOSITORY'))!
    expect(await registryTags(db.host, db.repo)).toContain(db.tag)
    expect(await manifestDigest(db.host, db.repo, db.tag)).toMatch(DIGEST)
    expect(await manifestDigest(p.host, p.repo, 'no-such-tag')).toBeUndefined()
    await expect(pinnedRef(`${p.host}/${p.repo}:no-such-tag`)).rejects.toThrow(/is not in the registry/)
  })

  it('tells a registry that does not answer from one that lacks the image', async () => {
    expect(await imageState(debian)).toBe('ok')
    expect(await imageState(`${mirror}/${repo}:nothing`)).toBe('missing')
    expect(await imageState('127.0.0.1:9/nothing/here:x')).toBe('down')
  })

  it('lists a repository\'s tags and deletes the manifests of the tags it is given, only those', async () => {
    docker(['pull', '-q', debian])
    docker(['tag', debian, `${mirror}/${repo}:a`])
    docker(['push', '-q', `${mirror}/${repo}:a`])
    // another manifest for c: the image with one more label, so its digest differs from a's
    docker(['build', '-q', '-t', `${mirror}/${repo}:c`, '--label', `test=${repo}`, '-'], `FROM ${debian}\n`)
    docker(['push', '-q', `${mirror}/${repo}:c`])
    expect((await registryTags(mirror, repo)).sort()).toEqual(['a', 'c'])
    const deleted = await deleteTags(mirror, repo, ['a'])
    expect(deleted).toHaveLength(1)
    expect(await manifestDigest(mirror, repo, 'a')).toBeUndefined()
    expect(await manifestDigest(mirror, repo, 'c')).toMatch(DIGEST)
  })
})

function spawnQuiet(cmd: string, ...args: string[]): void {
  try { execFileSync(cmd, args, { stdio: 'ignore' }) } catch { /* already gone */ }
}
