// The release gate on the lab, as a user meets it: `deploy` from source runs `ci`'s whole gate and publishes nothing
// when a step fails; every image of a release is verified under the environment's policy before anything is applied
// (unsigned, signed by another key, lacking the scan attestation, missing from the registry: each refused, the live
// objects unchanged), and prod's admission refuses what the pipeline did not sign; `verify` shows what each image
// carries. Real engine, registry, cosign, Trivy, policy-controller and cluster.
import crypto from 'node:crypto'
import fs from 'node:fs'
import { connection, dag, type Directory } from '@dagger.io/dagger'
import { beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labPipeline, labSigning, repoSource } from '../../../lab/pipeline.js'
import { withLabEnvironments } from '../../../lab/environments-lock.js'
import { Kube, type KubeObject } from '../adapters/kubernetes.js'
import { attestImage, generateKeyPair } from '../adapters/cosign.js'
import { parseManifests } from '../plan/manifests.js'
import { authFor } from './publish.js'
import { sign } from './sign.js'
import { EnvironmentName } from '../config/environments.js'
import { ServiceName } from '../config/services.js'

/** A whole gate run on a shared 2-core machine: minutes when another suite builds beside it. */
const GATE_RUN = 900_000
const COMMIT = 'c'.repeat(40) // a fixed commit: reruns of this file answer from the engine's cache
const hex = (n: number) => crypto.randomBytes(n).toString('hex')

async function inSession<T>(fn: () => Promise<T>): Promise<T> {
  let result: T | undefined
  await connection(async () => { result = await fn() })
  return result as T
}

const user = () => labVar('LAB_RELEASE_USER')
const password = () => dag.secret(`file://${labVar('LAB_RELEASE_PASSWORD_FILE')}`)
const kubeconfig = () => dag.secret(`file://${labVar('KUBECONFIG_DEPLOYER')}`)
const secrets = (env: string) => dag.secret(`file://${labVar('LAB_DEPLOY_SECRETS')}/${env}.yaml`)
const admin = () => Kube.fromFile(labVar('KUBECONFIG_LAB'))
const registry = () => labVar('LAB_RELEASE_REGISTRY')

/** What dev runs now: each workload's spec generation, and the release records (a deploy that applied anything changes them). */
async function devState(): Promise<string> {
  const namespace = 'graphmemory-dev'
  const kinds = await Promise.all(['Deployment', 'StatefulSet'].map((k) => admin().list<KubeObject & { spec: { template: unknown } }>('apps/v1', k, { namespace })))
  const releases = await admin().list<KubeObject>('v1', 'ConfigMap', { namespace, labelSelector: 'graphmemory.dev/release-of' })
  // what a deploy changes: the pod templates and the recorded releases (not the generation: the HPAs bump it as they
  // scale, which they do while this file runs)
  return JSON.stringify([kinds.flat().map((o) => [o.metadata.name, o.spec.template]), releases.map((r) => r.metadata.name).sort()])
}

/** Whether the release registry has a tag of a repository. */
async function hasTag(repo: string, tag: string): Promise<boolean> {
  const auth = Buffer.from(`${user()}:${fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()}`).toString('base64')
  const r = await fetch(`http://${registry()}/v2/${repo}/tags/list`, { headers: { authorization: `Basic ${auth}` } })
  return r.status === 200 && ((await r.json()) as { tags?: string[] }).tags?.includes(tag) === true
}

/** A restricted-compliant Pod of `image` in graphmemory-prod (created only as a dry run: admission runs in full). */
const probePod = (image: string): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: `gate-probe-${hex(3)}`, namespace: 'graphmemory-prod' },
  spec: {
    securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{ name: 'probe', image, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  },
} as KubeObject)

/** Every blob behind the signature and attestation tags of an image (cosign's classic layout), as text. */
async function signatureBlobs(ref: string): Promise<string[]> {
  const auth = { authorization: `Basic ${Buffer.from(`${user()}:${fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim()}`).toString('base64')}` }
  const [name, digest] = ref.split('@')
  const repo = name.slice(name.indexOf('/') + 1).replace(/:[^:/]+$/, '')
  const texts: string[] = []
  for (const suffix of ['sig', 'att']) {
    const tag = `${digest.replace(':', '-')}.${suffix}`
    const m = await fetch(`http://${registry()}/v2/${repo}/manifests/${tag}`, { headers: { ...auth, accept: 'application/vnd.oci.image.manifest.v1+json' } })
    expect(m.status).toBe(200)
    const manifest = (await m.json()) as { layers: Array<{ digest: string; annotations?: Record<string, string> }> }
    texts.push(JSON.stringify(manifest))
    for (const l of manifest.layers) texts.push(await (await fetch(`http://${registry()}/v2/${repo}/blobs/${l.digest}`, { headers: auth })).text())
  }
  return texts
}

/** The three services' images that passed the gate, signed and attested with the lab's key (logical name → ref). */
let signed: Record<string, string>
const release = (over: Record<string, string> = {}) => Object.entries({ ...signed, ...over }).map(([n, r]) => `${n}=${r}`).join(',')

beforeAll(async () => {
  signed = await inSession(async () => {
    const { key, password: keyPassword } = labSigning()
    const out = await labPipeline(repoSource(), COMMIT).ci('', user(), password(), key, keyPassword)
    const images = JSON.parse(await out.file('images.json').contents()) as Record<string, string>
    return Object.fromEntries(Object.entries(images).map(([name, ref]) => [`graphmemory/${name}`, ref]))
  })
}, GATE_RUN)

describe('deploy from source runs the gate (lab)', () => {
  it('a commit whose API test fails: the deploy fails naming the test, publishes nothing, changes nothing', async () => {
    const commit = hex(20)
    const broken = (): Directory => repoSource().withNewFile('services/api/tests/test_planted_failure.py', 'def test_planted_failure():\n    assert 1 + 1 == 3\n')
    const { error, before, after } = await withLabEnvironments(async () => {
      const before = await devState()
      const error = await inSession(() => {
        const { key, password: keyPassword } = labSigning()
        const others = release({ 'graphmemory/api': '' }).split(',').filter((e) => !e.endsWith('=')).join(',')
        return labPipeline(broken(), commit).deploy(EnvironmentName.dev, kubeconfig(), secrets('dev'), others, user(), password(), 120, undefined, key, keyPassword)
          .then(() => 'deployed', (e: Error) => e.message)
      })
      return { error, before, after: await devState() }
    })
    expect(error).toMatch(/tests of api failed[\s\S]*test_planted_failure/)
    expect(error).toMatch(/nothing published/)
    expect(await hasTag('graphmemory/api', commit.slice(0, 12))).toBe(false)
    expect(after).toBe(before)
  }, GATE_RUN)

  it('a commit whose image carries a CRITICAL advisory (the lab DB\'s fixture): nothing published, nothing changed', async () => {
    const commit = hex(20)
    const vulnerable = async (): Promise<Directory> => {
      const file = 'docker/production/Dockerfile.streamlit'
      const planted = 'RUN mkdir -p /tmp/fixture/gmi_vulnerable_fixture-1.0.0.dist-info && printf "Metadata-Version: 2.1\\nName: gmi-vulnerable-fixture\\nVersion: 1.0.0\\n" > /tmp/fixture/gmi_vulnerable_fixture-1.0.0.dist-info/METADATA\n'
      return repoSource().withNewFile(file, `${await repoSource().file(file).contents()}\n${planted}`)
    }
    const { error, before, after } = await withLabEnvironments(async () => {
      const before = await devState()
      const error = await inSession(async () => {
        const { key, password: keyPassword } = labSigning()
        const others = release({ 'graphmemory/dashboard': '' }).split(',').filter((e) => !e.endsWith('=')).join(',')
        return labPipeline(await vulnerable(), commit).deploy(EnvironmentName.dev, kubeconfig(), secrets('dev'), others, user(), password(), 120, undefined, key, keyPassword)
          .then(() => 'deployed', (e: Error) => e.message)
      })
      return { error, before, after: await devState() }
    })
    expect(error).toMatch(/scan of dashboard blocked[\s\S]*gmi-vulnerable-fixture 1\.0\.0: CVE-2099-10001 \(CRITICAL\)/)
    expect(error).toMatch(/nothing published/)
    expect(await hasTag('graphmemory/dashboard', commit.slice(0, 12))).toBe(false)
    expect(after).toBe(before)
  }, GATE_RUN)

  it('a deploy from source without a signing key is refused before any work', async () => {
    const error = await inSession(() => labPipeline(repoSource()).deploy(EnvironmentName.dev, kubeconfig(), undefined, '', user(), password())
      .then(() => 'deployed', (e: Error) => e.message))
    expect(error).toMatch(/cannot deploy dev from source: api, analytics, dashboard would be built, and no signing key is given/)
  })
})

describe('deploy verifies every image before apply (lab)', () => {
  it('refuses an unsigned digest, one signed by another key, one lacking the scan attestation, and one that does not exist', async () => {
    const { refusals, admission, before, after } = await withLabEnvironments(() => inSession(async () => {
      const { key, password: keyPassword } = labSigning()
      const auth = authFor(signed['graphmemory/api'], user(), password())
      const cosignImage = labVar('LAB_IMAGE_COSIGN')
      const api = labPipeline(repoSource(), hex(20))
      // three digests of the API that passed no gate: the same image under other commits (another revision label)
      const [unsigned, otherKey, noScan] = await Promise.all([0, 1, 2].map(() => labPipeline(repoSource(), hex(20)).publish(ServiceName.api, user(), password())))
      const otherPassword = dag.setSecret(`other-cosign-password-${hex(4)}`, hex(12))
      const other = generateKeyPair(cosignImage, otherPassword)
      await sign(otherKey, dag.setSecret(`other-cosign-key-${hex(4)}`, await other.file('cosign.key').contents()), otherPassword, auth, { cosignImage })
      const testsOnly = dag.directory().withNewFile('t.json', JSON.stringify({ result: 'PASSED', passedTests: ['t::ok'], failedTests: [], warnedTests: [], configuration: [] })).file('t.json')
      await attestImage(cosignImage, noScan, key, keyPassword, [{ cosignType: 'https://in-toto.io/attestation/test-result/v0.1', file: testsOnly }], auth, false)
      const missing = `${signed['graphmemory/api'].split('@')[0]}@sha256:${crypto.createHash('sha256').update(hex(8)).digest('hex')}`
      // the cluster's last line: prod's namespace, as its overlay renders it, admits the signed image and refuses the others
      const prodNs = parseManifests(await api.render(EnvironmentName.prod, release()).contents()).find((o) => o.kind === 'Namespace')!
      await admin().apply(prodNs as KubeObject)
      const admission = Object.fromEntries(await Promise.all(Object.entries({ signed: signed['graphmemory/api'], unsigned, otherKey }).map(async ([what, image]) =>
        [what, await admin().apply(probePod(image), { dryRun: true }).then(() => 'admitted', (e: Error) => e.message)] as const)))
      const before = await devState()
      const refusals: Record<string, string> = {}
      for (const [what, ref] of Object.entries({ unsigned, otherKey, noScan, missing })) {
        refusals[what] = await api.deploy(EnvironmentName.dev, kubeconfig(), secrets('dev'), release({ 'graphmemory/api': ref }), user(), password(), 120)
          .then(() => 'deployed', (e: Error) => e.message)
      }
      return { refusals, admission, before, after: await devState() }
    }))
    expect(admission.signed).toBe('admitted')
    expect(admission.unsigned).toMatch(/admission webhook "policy.sigstore.dev" denied the request[\s\S]*graphmemory-services/)
    expect(admission.otherKey).toMatch(/admission webhook "policy.sigstore.dev" denied the request/)
    for (const [what, message] of Object.entries(refusals)) expect(message, `${what}: ${JSON.stringify(refusals)}`).toMatch(/^dev refuses graphmemory\/api: nothing was applied/)
    expect(refusals.unsigned).toMatch(/not signed by the pipeline's key/)
    expect(refusals.otherKey).toMatch(/not signed by the pipeline's key/)
    expect(refusals.noScan).toMatch(/no scan attestation signed by the pipeline's key/)
    expect(refusals.noScan).not.toMatch(/no tests attestation|tests did not pass/) // the tests attestation it carries was accepted
    expect(refusals.missing).toMatch(/graphmemory\/api(:\w+)?@sha256:[0-9a-f]{64} does not exist in 127\.0\.0\.1:\d+/)
    expect(after).toBe(before)
  }, GATE_RUN)

  it('verify shows what each image carries, human and JSON; no signing secret in its output', async () => {
    const { text, json } = await inSession(async () => {
      const p = labPipeline(repoSource())
      return { text: await p.verify(release(), EnvironmentName.prod, false, user(), password()), json: JSON.parse(await p.verify(Object.values(signed).join(','), EnvironmentName.prod, true, user(), password())) }
    })
    expect(text).toMatch(/graphmemory\/api: .*@sha256:[0-9a-f]{64}\n  signature: verified with the pipeline's public key\n  sbom: \d+ packages\n  scan: passed at CRITICAL,HIGH/)
    expect(text).toMatch(/provenance: commit c{40}/)
    expect(text).toMatch(/ok for prod$/)
    expect(json.ok).toBe(true)
    expect(json.images.map((i: { name: string }) => i.name).sort()).toEqual(['graphmemory/analytics', 'graphmemory/api', 'graphmemory/dashboard'])
    const blobs = await signatureBlobs(signed['graphmemory/api'])
    expect(blobs.length).toBeGreaterThanOrEqual(6) // two manifests, a signature, four attestations
    const keyBody = fs.readFileSync(labVar('LAB_SIGNING_KEY_FILE'), 'utf8').split('\n').find((l) => l.length > 40)!
    for (const secret of [...[labVar('LAB_SIGNING_PASSWORD_FILE'), labVar('LAB_RELEASE_PASSWORD_FILE')].map((f) => fs.readFileSync(f, 'utf8').trim()), keyBody]) {
      expect(text).not.toContain(secret)
      expect(JSON.stringify(json)).not.toContain(secret)
      expect(blobs.filter((b) => b.includes(secret))).toEqual([])
    }
  }, GATE_RUN)
})
