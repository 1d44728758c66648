// The pipeline as a user runs it: the module's class in library mode against the lab's engine and registries.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { connection, dag } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labPipeline, repoSource } from '../../../lab/pipeline.js'
import { generateKeyPair } from '../adapters/cosign.js'
import { EnvironmentName } from '../config/environments.js'
import { ServiceName } from '../config/services.js'

const hex = (n: number) => crypto.randomBytes(n).toString('hex')
/** A whole pipeline run on a shared 2-core machine: minutes when another suite builds beside it. */
const PIPELINE_RUN = 900_000

/** Runs fn inside one Dagger session and returns its result. */
async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}


const password = () => dag.secret(`file://${labVar('LAB_RELEASE_PASSWORD_FILE')}`)
const user = () => labVar('LAB_RELEASE_USER')

/**
 * Whether an image reference can be pulled from the release registry with the lab's credentials. Only "not found" is
 * false (a refused login would make every image look unpublished); the password is a set secret, which the engine's
 * image resolver reads at once (a file: secret it fetches only once an exec or a push used it: steps/attest.ts).
 */
const pullable = (ref: string) => dag.container()
  .withRegistryAuth(labVar('LAB_RELEASE_REGISTRY'), user(), dag.setSecret('lab-release-password', fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()))
  .from(ref).sync().then(() => true, (e: Error) => { if (/: not found\b/.test(e.message)) return false; throw e })

describe('ci (library mode, lab engine and registries)', () => {
  it('builds, tests, scans and publishes the three services; the digests pull back and run as non-root', async () => {
    const exported = fs.mkdtempSync('/tmp/gmi-ci-out-')
    const keyPasswordText = `pw-${hex(8)}`
    const { images, summary, junit, pulledUsers, verified, otherKey, keyText } = await inSession(async () => {
      const pipeline = labPipeline(repoSource())
      const keyPassword = dag.setSecret(`cosign-password-${hex(6)}`, keyPasswordText)
      const pair = generateKeyPair(labVar('LAB_IMAGE_COSIGN'), keyPassword)
      const other = generateKeyPair(labVar('LAB_IMAGE_COSIGN'), dag.setSecret(`cosign-password-${hex(6)}`, `pw-${hex(8)}`))
      const key = dag.setSecret(`cosign-key-${hex(6)}`, await pair.file('cosign.key').contents())
      const out = await pipeline.ci('', user(), password(), key, keyPassword)
      await out.export(exported)
      const images = JSON.parse(await out.file('images.json').contents()) as Record<string, string>
      const pulledUsers = await Promise.all(Object.values(images).map((ref) =>
        dag.container().withRegistryAuth(labVar('LAB_RELEASE_REGISTRY'), user(), password()).from(ref)
          .withExec(['id', '-u']).stdout()))
      const release = Object.entries(images).map(([name, ref]) => `graphmemory/${name}=${ref}`).join(',')
      const verified = JSON.parse(await labPipeline(repoSource(), undefined, pair.file('cosign.pub')).verify(release, EnvironmentName.prod, true, user(), password()))
      const otherKey = await labPipeline(repoSource(), undefined, other.file('cosign.pub')).verify(images.api, EnvironmentName.dev, false, user(), password())
        .then(() => 'verified', (e) => String(e))
      return { images, summary: await out.file('summary.txt').contents(), junit: await out.file('api/junit.xml').contents(), pulledUsers, verified, otherKey,
        keyText: await pair.file('cosign.key').contents() }
    })
    // every image carries a signature and the four attestations, and prod's policy admits them
    expect(verified.ok).toBe(true)
    for (const image of verified.images) {
      expect(image).toMatchObject({ signed: true, tests: { result: 'PASSED' }, violations: [] })
      expect(image.sbomPackages).toBeGreaterThan(10)
      expect(image.scan).toMatchObject({ passed: true, threshold: ['CRITICAL', 'HIGH'] })
      expect(image.provenanceCommit).toMatch(/^[0-9a-f]{40}$/)
    }
    expect(otherKey).toMatch(/dev refuses graphmemory\/api.*not signed by the pipeline's key/s)
    expect(summary).toMatch(/✓ api sign/)
    expect(Object.keys(images).sort()).toEqual(['analytics', 'api', 'dashboard'])
    for (const ref of Object.values(images)) expect(ref).toMatch(new RegExp(`^${labVar('LAB_RELEASE_REGISTRY')}/graphmemory/\\w+:[0-9a-f]{12}@sha256:[0-9a-f]{64}$`))
    expect(pulledUsers.map((u) => u.trim())).toEqual(['10001', '10001', '10001'])
    expect(summary).toMatch(/✓ api test/)
    expect(summary).toMatch(/^ok: /m)
    expect(junit).toMatch(/<testsuite[^>]+tests="\d+"/)
    expect(junit).not.toMatch(/failures="[1-9]/)
    const files = fs.readdirSync(exported, { recursive: true, encoding: 'utf8' }).map((f) => path.join(exported, f)).filter((f) => fs.statSync(f).isFile())
    expect(files.map((f) => path.relative(exported, f))).toEqual(expect.arrayContaining(['api/scan/image.sarif', 'api/sbom.cdx.json', 'summary.json']))
    // no registry password, signing key or key password in any report, summary or what verify read from the attestations
    const keyBody = keyText.split('\n').find((l) => l.length > 40)!
    for (const secret of [fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim(), keyPasswordText, keyBody]) {
      expect(files.filter((f) => fs.readFileSync(f, 'utf8').includes(secret))).toEqual([])
      expect(JSON.stringify(verified)).not.toContain(secret)
    }
    const sbom = JSON.parse(fs.readFileSync(path.join(exported, 'api/sbom.cdx.json'), 'utf8')) as { components: { name: string }[] }
    expect(sbom.components.map((c) => c.name)).toEqual(expect.arrayContaining(['fastapi', 'uvicorn']))
  }, PIPELINE_RUN)

  it('a failing test fails ci, names the test and publishes nothing', async () => {
    const commit = hex(20)
    const { error, published } = await inSession(async () => {
      const broken = repoSource().withNewFile('services/analytics/tests/test_planted_failure.py',
        'def test_planted_failure():\n    assert 1 + 1 == 3\n')
      const error = await labPipeline(broken, commit).ci('analytics,dashboard', user(), password()).then(() => undefined, (e) => String(e))
      const registry = labVar('LAB_RELEASE_REGISTRY')
      const tag = commit.slice(0, 12)
      const published = await Promise.all(['analytics', 'dashboard'].map((s) => pullable(`${registry}/graphmemory/${s}:${tag}`)))
      return { error, published }
    })
    expect(error).toMatch(/tests of analytics failed/)
    expect(error).toMatch(/test_planted_failure/)
    expect(error).toMatch(/nothing published/)
    expect(published).toEqual([false, false])
  }, PIPELINE_RUN)

  it('an unknown service fails before any work, listing the known ones', async () => {
    const error = await inSession(() => labPipeline(repoSource()).ci('api,web').then(() => '', (e) => String(e)))
    expect(error).toMatch(/unknown service "web".*api, analytics, dashboard/s)
  })

  it('a wrong registry password fails naming the registry, and the password appears nowhere', async () => {
    const wrong = `wrong-${hex(8)}`
    const file = path.join(fs.mkdtempSync('/tmp/gmi-pw-'), 'pw')
    fs.writeFileSync(file, wrong)
    const error = await inSession(() => labPipeline(repoSource()).publish(ServiceName.dashboard, user(), dag.secret(`file://${file}`))
      .then(() => '', (e) => String(e)))
    expect(error).toMatch(new RegExp(`to ${labVar('LAB_RELEASE_REGISTRY').replace(/\./g, '\\.')}: authentication failed`))
    expect(error).not.toContain(wrong)
  }, PIPELINE_RUN)
})
