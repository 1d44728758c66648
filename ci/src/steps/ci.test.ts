// The pipeline as a user runs it: the module's class in library mode against the lab's engine and registries.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connection, dag, type Directory } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { GraphmemoryIde } from '../index.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const hex = (n: number) => crypto.randomBytes(n).toString('hex')

/** Runs fn inside one Dagger session and returns its result. */
async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

const repoSource = () => dag.host().directory(REPO, { exclude: ['**/node_modules', '.git', '.ci-out', '**/__pycache__'] })

/** The pipeline on the lab's images and release registry, for a fresh commit id (so its tags are its own). */
const labPipeline = (source: Directory, commit = hex(20)) => new GraphmemoryIde(source, labVar('LAB_IMAGE_PYTHON_BUILD'),
  labVar('LAB_IMAGE_PYTHON_RUNTIME'), labVar('LAB_IMAGE_POSTGRES'), labVar('LAB_IMAGE_REDIS'), labVar('LAB_RELEASE_REGISTRY'), commit, 1700000000)

const password = () => dag.secret(`file://${labVar('LAB_RELEASE_PASSWORD_FILE')}`)
const user = () => labVar('LAB_RELEASE_USER')

/** Whether an image reference can be pulled from the release registry with the lab's credentials. */
const pullable = (ref: string) => dag.container().withRegistryAuth(labVar('LAB_RELEASE_REGISTRY'), user(), password())
  .from(ref).sync().then(() => true, () => false)

describe('ci (library mode, lab engine and registries)', () => {
  it('builds, tests and publishes the three services; the digests pull back and run as non-root', async () => {
    const { images, summary, junit, pulledUsers } = await inSession(async () => {
      const out = await labPipeline(repoSource()).ci('', user(), password())
      const images = JSON.parse(await out.file('images.json').contents()) as Record<string, string>
      const pulledUsers = await Promise.all(Object.values(images).map((ref) =>
        dag.container().withRegistryAuth(labVar('LAB_RELEASE_REGISTRY'), user(), password()).from(ref)
          .withExec(['id', '-u']).stdout()))
      return { images, summary: await out.file('summary.txt').contents(), junit: await out.file('api/junit.xml').contents(), pulledUsers }
    })
    expect(Object.keys(images).sort()).toEqual(['analytics', 'api', 'dashboard'])
    for (const ref of Object.values(images)) expect(ref).toMatch(new RegExp(`^${labVar('LAB_RELEASE_REGISTRY')}/graphmemory/\\w+:[0-9a-f]{12}@sha256:[0-9a-f]{64}$`))
    expect(pulledUsers.map((u) => u.trim())).toEqual(['10001', '10001', '10001'])
    expect(summary).toMatch(/✓ api test/)
    expect(summary).toMatch(/^ok: /m)
    expect(junit).toMatch(/<testsuite[^>]+tests="\d+"/)
    expect(junit).not.toMatch(/failures="[1-9]/)
  })

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
  })

  it('an unknown service fails before any work, listing the known ones', async () => {
    const error = await inSession(() => labPipeline(repoSource()).ci('api,web').then(() => '', (e) => String(e)))
    expect(error).toMatch(/unknown service "web".*api, analytics, dashboard/s)
  })

  it('a wrong registry password fails naming the registry, and the password appears nowhere', async () => {
    const wrong = `wrong-${hex(8)}`
    const file = path.join(fs.mkdtempSync('/tmp/gmi-pw-'), 'pw')
    fs.writeFileSync(file, wrong)
    const error = await inSession(() => labPipeline(repoSource()).publish('dashboard', user(), dag.secret(`file://${file}`))
      .then(() => '', (e) => String(e)))
    expect(error).toMatch(new RegExp(`to ${labVar('LAB_RELEASE_REGISTRY').replace(/\./g, '\\.')}: authentication failed`))
    expect(error).not.toContain(wrong)
  })
})
