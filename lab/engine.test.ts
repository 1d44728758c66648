// The lab's Dagger engine, driven in library mode exactly as the pipeline is: containers from the lab's base images,
// Dockerfile builds, authenticated pushes and pulls by digest, cache volumes.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { connection, dag, ReturnType } from '@dagger.io/dagger'
import { describe, expect, it } from 'vitest'
import { labVar } from './env.js'
import { ENGINE_BRIDGE } from './components/dagger.mjs'
import { publish, pull, type RegistryAuth } from '../ci/src/adapters/registry.js'

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

const releasePassword = () => fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8')
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

/** Splits "host:port/repo/name@sha256:…" into the registry API's parts. */
function parseDigestRef(ref: string) {
  const [name, digest] = ref.split('@')
  const slash = name.indexOf('/')
  return { host: name.slice(0, slash), repo: name.slice(slash + 1).replace(/:[^/]*$/, ''), digest }
}

/** The Docker daemon (its own image store, shared with nothing in the Dagger engine) with a throw-away client config,
 *  so a login there never touches ~/.docker. Output goes to the test, never the password (given on stdin). */
function dockerCli(configDir: string) {
  const bin = process.env.DOCKER ?? 'docker'
  return (args: string[], input?: string) => {
    const r = spawnSync(bin, ['--config', configDir, ...args], { input, encoding: 'utf8', timeout: 120000 })
    if (r.error) throw r.error
    return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() }
  }
}

describe('lab Dagger engine (library mode)', () => {
  it('runs a container from the lab Python base and reads its stdout', async () => {
    const out = await inSession(() =>
      dag.container().from(labVar('LAB_IMAGE_PYTHON_RUNTIME'))
        .withExec(['python3', '-c', 'import sys; print("python %d.%d" % sys.version_info[:2])']).stdout())
    expect(out.trim()).toBe('python 3.11')
  })

  it('a container reaches a service while the per-container accept rules of the engine\'s bridge are gone', async () => {
    // The engine runs on the host's network, so its bridge's traffic crosses the host's FORWARD chain (DROP policy),
    // where the CNI firewall plugin accepts each container by address (CNI-FORWARD). kube-router rewrites the whole
    // filter table from a copy taken moments before (iptables-save, then iptables-restore): a container started in
    // between loses its rules and its connections time out ('dial tcp 10.87.x.x: i/o timeout' to the registry tunnel,
    // Redis timeouts in a suite). The lab's own chain for the bridge must carry the traffic without them: here a DROP
    // ahead of CNI-FORWARD's accepts stands for rules that were lost.
    const lost = ['CNI-FORWARD', '-i', ENGINE_BRIDGE, '-m', 'comment', '--comment', `gmi-lab-test lost rules ${nonce()}`, '-j', 'DROP']
    const iptables = (args: string[]) => spawnSync('iptables', ['-w', ...args], { encoding: 'utf8' })
    expect(iptables(['-I', lost[0], '1', ...lost.slice(1)]).status).toBe(0)
    try {
      const fetched = await inSession(async () => {
        const python = labVar('LAB_IMAGE_PYTHON_RUNTIME')
        const server = dag.container().from(python).withWorkdir('/srv').withNewFile('/srv/index.html', `served ${nonce()}`)
          .withExposedPort(8080).asService({ args: ['python3', '-m', 'http.server', '8080'] })
        const client = dag.container().from(python).withServiceBinding('web', server).withEnvVariable('RUN', nonce())
          .withExec(['python3', '-c', 'import urllib.request; print(urllib.request.urlopen("http://web:8080/index.html", timeout=20).read().decode())'], { expect: ReturnType.Any })
        const [exit, out, err] = await Promise.all([client.exitCode(), client.stdout(), client.stderr()])
        return { exit, answer: out.trim() || err.trim().split('\n').at(-1) }
      })
      expect(fetched).toEqual({ exit: 0, answer: expect.stringMatching(/^served /) })
    } finally {
      iptables(['-D', ...lost])
    }
  }, 180_000)

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

  it('pushes to the auth registry with a Secret password; the registry serves it by digest', async () => {
    const marker = nonce()
    const registry = labVar('LAB_RELEASE_REGISTRY')
    const ref = `${registry}/lab-test/marker:${marker}`
    const pushed = await inSession(() =>
      publish(dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withNewFile('/marker', marker), ref, releaseAuth()))
    expect(pushed).toMatch(new RegExp(`^${ref.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}$`))
    const { host, repo, digest } = parseDigestRef(pushed)

    // 1. the registry itself (its HTTP API, not any engine's cache): the manifest is stored under that digest, and
    //    refused without credentials
    const url = `http://${host}/v2/${repo}/manifests/${digest}`
    const res = await fetch(url, { headers: { Accept: MANIFEST_TYPES, Authorization: basic(labVar('LAB_RELEASE_USER'), releasePassword()) } })
    expect(res.status).toBe(200)
    const body = Buffer.from(await res.arrayBuffer())
    expect(res.headers.get('docker-content-digest')).toBe(digest)
    expect(`sha256:${crypto.createHash('sha256').update(body).digest('hex')}`).toBe(digest)
    const anonymous = await fetch(url, { headers: { Accept: MANIFEST_TYPES } })
    expect(anonymous.status).toBe(401)
    expect(await anonymous.text()).toContain('authentication required')

    // 2. pulled by digest into the Docker daemon, which shares no cache with the Dagger engine, and run there
    const config = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-test-docker-'))
    const docker = dockerCli(config)
    try {
      docker(['rmi', '-f', pushed]) // not there (the daemon never saw this marker); removed to be certain
      expect(docker(['image', 'inspect', pushed]).status).not.toBe(0)
      const login = docker(['login', host, '--username', labVar('LAB_RELEASE_USER'), '--password-stdin'], releasePassword())
      expect(login.status, login.err).toBe(0)
      const got = docker(['pull', pushed])
      expect(got.status, got.err).toBe(0)
      const read = docker(['run', '--rm', '--network', 'none', pushed, 'cat', '/marker'])
      expect(read.status, read.err).toBe(0)
      expect(read.out).toBe(marker)
    } finally {
      dockerCli(config)(['rmi', '-f', pushed])
      fs.rmSync(config, { recursive: true, force: true })
    }

    // 3. the pipeline's own pull by digest, in a new session, with credentials
    const readBack = await inSession(async () => (await pull(pushed, releaseAuth())).withExec(['cat', '/marker']).stdout())
    expect(readBack).toBe(marker)
  })

  it('a pull from the release registry without credentials fails with a message naming the registry', async () => {
    const marker = nonce()
    const registry = labVar('LAB_RELEASE_REGISTRY')
    const ref = `${registry}/lab-test/private:${marker}`
    // the engine has the image's layers and manifest in its cache after this push ...
    const pushed = await inSession(() =>
      publish(dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withNewFile('/marker', marker), ref, releaseAuth()))
    // ... still, a session without credentials must be refused by the registry, not served from that cache
    const attempt = inSession(async () => (await pull(pushed)).withExec(['cat', '/marker']).stdout())
    await expect(attempt).rejects.toThrow(`pull of ${pushed} from ${registry}: authentication failed`)

    // the Docker daemon without a login: refused too (Docker's wording for a registry asking for basic auth)
    const config = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-test-docker-'))
    try {
      const docker = dockerCli(config)
      docker(['rmi', '-f', pushed])
      const got = docker(['pull', pushed])
      expect(got.status).not.toBe(0)
      expect(got.err).toMatch(/no basic auth credentials/)
    } finally {
      fs.rmSync(config, { recursive: true, force: true })
    }
  })

  it('a wrong password fails with a message naming the registry', async () => {
    const registry = labVar('LAB_RELEASE_REGISTRY')
    const attempt = inSession(() =>
      publish(dag.container().from(labVar('LAB_IMAGE_DEBIAN')).withNewFile('/x', nonce()),
        `${registry}/lab-test/denied:${nonce()}`, releaseAuth('not-the-password')))
    await expect(attempt).rejects.toThrow(`to ${registry}: authentication failed`)
  })

  it('collects garbage by the lab policy (a 24 GiB cap: the disk\'s reservation leaves minFreeSpace blind), not the default that empties the cache on a nearly full disk', async () => {
    const policy = await inSession(async () => {
      const cache = dag.engine().localCache()
      return { reserved: await cache.reservedSpace(), minFree: await cache.minFreeSpace(), maxUsed: await cache.maxUsedSpace() }
    })
    expect(policy).toEqual({ reserved: 16 * 2 ** 30, minFree: 2 * 2 ** 30, maxUsed: 24 * 2 ** 30 })
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
