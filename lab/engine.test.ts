// The lab's Dagger engine, driven in library mode exactly as the pipeline is: containers from the lab's base images,
// Dockerfile builds, authenticated pushes and pulls by digest, cache volumes.
import fs from 'node:fs'
import crypto from 'node:crypto'
import { connection, dag } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from './env.js'
import { publish, type RegistryAuth } from '../ci/adapters/registry.js'

const nonce = () => crypto.randomBytes(6).toString('hex')

/** Runs fn inside one Dagger session and returns its result. */
async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

const releaseAuth = (password = fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8')): RegistryAuth => ({
  address: labVar('LAB_RELEASE_REGISTRY'),
  username: labVar('LAB_RELEASE_USER'),
  password: dag.setSecret(`registry-password-${nonce()}`, password),
})

describe('lab Dagger engine (library mode)', () => {
  it('runs a container from the lab Python base and reads its stdout', async () => {
    const out = await inSession(() =>
      dag.container().from(labVar('LAB_IMAGE_PYTHON_RUNTIME'))
        .withExec(['python3', '-c', 'import sys; print("python %d.%d" % sys.version_info[:2])']).stdout())
    expect(out.trim()).toBe('python 3.11')
  })

  it('builds a two-stage Dockerfile with directory.dockerBuild', async () => {
    const base = labVar('LAB_IMAGE_DEBIAN')
    const dockerfile = [
      'ARG BASE', 'FROM ${BASE} AS build', 'RUN echo built-in-stage-one > /artifact && touch /scratch',
      'FROM ${BASE}', 'COPY --from=build /artifact /artifact',
    ].join('\n')
    const out = await inSession(() =>
      dag.directory().withNewFile('Dockerfile', dockerfile)
        .dockerBuild({ buildArgs: [{ name: 'BASE', value: base }] })
        .withExec(['sh', '-c', 'cat /artifact; test -e /scratch && echo leaked || echo clean']).stdout())
    expect(out.trim().split('\n')).toEqual(['built-in-stage-one', 'clean'])
  })

  it('pushes to the auth registry with a Secret password and pulls it back by digest', async () => {
    const marker = nonce()
    const ref = `${labVar('LAB_RELEASE_REGISTRY')}/lab-test/marker:${marker}`
    const { pushed, readBack } = await inSession(async () => {
      const auth = releaseAuth()
      const image = dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withNewFile('/marker', marker)
      const pushed = await publish(image, ref, auth)
      const readBack = await dag.container().withRegistryAuth(auth.address, auth.username, auth.password)
        .from(pushed).withExec(['cat', '/marker']).stdout()
      return { pushed, readBack }
    })
    expect(pushed).toMatch(new RegExp(`^${ref.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}$`))
    expect(readBack).toBe(marker)
  })

  it('a wrong password fails with a message naming the registry', async () => {
    const registry = labVar('LAB_RELEASE_REGISTRY')
    const attempt = inSession(() =>
      publish(dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withNewFile('/x', nonce()),
        `${registry}/lab-test/denied:${nonce()}`, releaseAuth('not-the-password')))
    await expect(attempt).rejects.toThrow(`to ${registry}: authentication failed`)
  })

  it('keeps a cache volume between two sessions', async () => {
    const volume = `lab-test-${nonce()}`
    const token = nonce()
    const inVolume = (cmd: string) => inSession(() =>
      dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withMountedCache('/cache', dag.cacheVolume(volume))
        .withExec(['sh', '-c', cmd]).stdout())
    await inVolume(`echo ${token} > /cache/token`)
    expect((await inVolume('cat /cache/token')).trim()).toBe(token)
  })
})
