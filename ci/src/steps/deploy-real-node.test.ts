// The guarded deploy with the application REALLY running: the lab's real node (kubelet + containerd, see
// docs/lab-kubernetes.md) instead of kwok. The pipeline's own build and publish put the three service images in the
// release registry (real digests; the engine's cache makes a second run cheap), the dev overlay is rendered with the
// lab-real-node component, and the deployer identity deploys it into a throw-away namespace. Then two bad releases:
// an API image whose entrypoint exits 3 (built from the real image by Dagger, published beside it), and an API
// image by a digest the registry does not have. Each must fail naming the pod and its condition, and be rolled back
// automatically to the release whose pods are Ready again on the node. Needs `make lab-up` (the node included).
import crypto from 'node:crypto'
import fs from 'node:fs'
import { SERVICES } from '../config/services.js'
import { connection, dag } from '@dagger.io/dagger'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labPinned, labPipeline, repoSource } from '../../../lab/pipeline.js'
import { roleBinding } from '../../../lab/components/deployer.mjs'
import { ensurePullSecret } from '../../../lab/components/node.mjs'
import { Kube, type KubeObject } from '../adapters/kubernetes.js'
import { environment, type Environment } from '../config/environments.js'
import { parseManifests } from '../plan/manifests.js'
import { deployRelease, type ReleaseRequest } from './deploy.js'
import { readReleases } from './history.js'
import { authFor, publish } from './publish.js'
import { renderManifest, renderRelease, requiredSecrets } from './release.js'

const RUN = crypto.randomBytes(3).toString('hex')
/** A fixed commit: the same source gives the same images, so a second run publishes nothing new. */
const COMMIT = 'ea1e0de0ea1e0de0ea1e0de0ea1e0de0ea1e0de0'
const NODE = labVar('LAB_NODE_NAME')
const dev = environment('dev')

let admin: Kube
let deployer: Kube
let template: string // the dev overlay with lab-real-node, the good images
let images: Record<string, string>
let crashingApi: string // the API image whose entrypoint exits 3
let missingApi: string // the API repository, a digest it does not have
let required: Awaited<ReturnType<typeof requiredSecrets>>
let missingComponent: unknown
const namespaces: string[] = []

beforeAll(async () => {
  admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
  await connection(async () => {
    const source = repoSource()
    const pipeline = labPipeline(source, COMMIT)
    const user = labVar('LAB_RELEASE_USER')
    const password = dag.setSecret('lab-release-password', fs.readFileSync(labVar('LAB_RELEASE_PASSWORD_FILE'), 'utf8').trim())
    const services = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s.image, await pipeline.publish(s.name, user, password)] as const)))
    const api = services['graphmemory/api']
    const crashRef = `${api.slice(0, api.indexOf('@'))}-crash`
    crashingApi = await publish(pipeline.build('api').withEntrypoint(['python3', '-c', 'import sys; print("api: refusing to start (crash test)"); sys.exit(3)']),
      crashRef, authFor(crashRef, user, password))
    missingApi = `${api.slice(0, api.indexOf('@'))}@sha256:${crypto.createHash('sha256').update(`missing ${RUN}`).digest('hex')}`
    const release = await renderRelease(source, dev, services, labPinned(), labVar('LAB_IMAGE_KUSTOMIZE'), ['lab-real-node'])
    template = release.manifest
    images = release.images
    required = await requiredSecrets(source, dev, ['lab-real-node'])
    missingComponent = await renderManifest(source, dev, images, labVar('LAB_IMAGE_KUSTOMIZE'), ['no-such-part']).catch((e: Error) => e)
  })
}, 1_200_000) // hang guard: a cold build of the three images on a loaded machine

afterAll(async () => {
  await Promise.all(namespaces.map((name) => admin.delete({ apiVersion: 'v1', kind: 'Namespace', name })))
})

/** A fresh namespace standing for dev: the deployer bound there, the release registry's pull secret in it. */
async function sandbox(label = 'real', pullSecret = true): Promise<Environment> {
  const namespace = `gmi-t-${label}-${RUN}`
  namespaces.push(namespace)
  await admin.ensureNamespace(namespace)
  await admin.apply(roleBinding(namespace) as KubeObject)
  if (pullSecret) await ensurePullSecret(namespace)
  return { ...dev, namespace }
}

/** The rendered manifest moved into the sandbox, with the API image replaced when `api` is given. */
const manifestFor = (env: Environment, api?: string): string => {
  const text = template.replaceAll('graphmemory-dev', env.namespace)
  return parseManifests(api ? text.replaceAll(images['graphmemory/api'], api) : text).map((o) => `---\n${stringify(o)}`).join('')
}

const secrets = () => ({
  'graphmemory-postgres': { password: crypto.randomBytes(12).toString('hex') },
  'graphmemory-redis': { password: crypto.randomBytes(12).toString('hex') },
  'graphmemory-api': { 'bootstrap-api-key': crypto.randomBytes(12).toString('hex') },
  'graphmemory-tls': { 'tls.crt': 'not checked by the API server', 'tls.key': 'not checked either' },
})

/** Rollouts on real pods: pulls, Postgres' first start, probes; a hang guard, not a speed bound. */
const TIMEOUT_SECONDS = 300
const request = (env: Environment, manifest: string, extra: Partial<ReleaseRequest> = {}): ReleaseRequest =>
  ({ env, required: { ...required, namespace: env.namespace }, manifest, images, commit: COMMIT, origin: 'deploy', timeoutSeconds: TIMEOUT_SECONDS, ...extra })

interface PodView { name: string; node?: string; ready: boolean; images: string[]; leaving: boolean }

/** The namespace's pods: where they run, whether Ready, their images. */
async function pods(ns: string): Promise<PodView[]> {
  type Pod = KubeObject & { spec: { nodeName?: string; containers: { image: string }[] }; status?: { conditions?: { type: string; status: string }[] } }
  return (await admin.list<Pod>('v1', 'Pod', { namespace: ns })).map((p) => ({
    name: p.metadata.name!, node: p.spec.nodeName, leaving: !!p.metadata.deletionTimestamp, images: p.spec.containers.map((c) => c.image),
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  }))
}

/** The five workloads' pods all Ready on the real node, the API on `api`; nothing else left running. */
async function expectRunning(ns: string, api: string): Promise<void> {
  const live = (await pods(ns)).filter((p) => !p.leaving)
  expect(live.map((p) => p.name.replace(/-[a-z0-9]+(-[a-z0-9]+)?$/, '')).sort()).toEqual(['analytics', 'api', 'dashboard', 'postgres', 'redis'])
  for (const p of live) expect({ pod: p.name, node: p.node, ready: p.ready }).toEqual({ pod: p.name, node: NODE, ready: true })
  expect(live.find((p) => p.name.startsWith('api-'))?.images).toEqual([api])
}

describe('deploy on the real node (pods really run)', () => {
  let env: Environment

  it('renders the overlay with the lab-real-node component only when asked, and refuses a component that is not there', () => {
    const deployments = parseManifests(template).filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    expect(deployments).toHaveLength(5)
    for (const o of deployments) {
      const spec = (o.spec as { template: { spec: Record<string, unknown> } }).template.spec
      expect(spec.nodeSelector, o.metadata.name).toEqual({ 'graphmemory.dev/real-node': 'true' })
      expect(spec.imagePullSecrets).toEqual([{ name: 'lab-release-pull' }])
    }
    expect(String(missingComponent)).toMatch(/no component no-such-part in k8s\/components.*the components there are: .*lab-real-node/s)
    expect(required.secrets['lab-release-pull']).toEqual({ type: 'kubernetes.io/dockerconfigjson', keys: ['.dockerconfigjson'] })
  })

  it('refuses to deploy where the lab has not put its pull secret, before anything is applied', async () => {
    const bare = await sandbox('nopull', false)
    await expect(deployRelease(deployer, request(bare, manifestFor(bare), { secrets: secrets() })))
      .rejects.toThrow(/dev is missing required secrets: lab-release-pull\/\.dockerconfigjson is neither given nor in namespace gmi-t-nopull-/)
    expect(await admin.list('apps/v1', 'Deployment', { namespace: bare.namespace })).toEqual([])
  })

  it('deploys the published images: every pod pulled, started and Ready on the real node', async () => {
    env = await sandbox()
    const first = await deployRelease(deployer, request(env, manifestFor(env), { secrets: secrets() }))
    expect(first).toMatchObject({ revision: 1, changed: true })
    await expectRunning(env.namespace, images['graphmemory/api'])
  }, 600_000)

  /** Bad releases of the API, in order (each one's revision follows the last); each is caught and rolled back to release 1. */
  const badReleases = [
    { what: 'an API that exits at start fails the release (its pod, exit code, crash loop)', api: () => crashingApi, revision: 2,
      reason: 'CrashLoopBackOff: pod api-\\S+ container api exited \\d+ times, last with code 3 \\(Error\\)' },
    { what: 'an API image by a digest the registry lacks fails the release (ErrImagePull)', api: () => missingApi, revision: 3,
      reason: '(ErrImagePull|ImagePullBackOff): pod api-\\S+ container api: [^\\n]*not found' },
  ]

  it.each(badReleases)('$what, and the previous release runs again', async ({ api, revision, reason }) => {
    const failed = deployRelease(deployer, request(env, manifestFor(env, api()), { images: { ...images, 'graphmemory/api': api() } }))
    await expect(failed).rejects.toThrow(new RegExp(`release ${revision} of dev failed and was rolled back[\\s\\S]*Deployment ${env.namespace}/api: ` +
      `${reason}[\\s\\S]*rolled back to release 1`))
    await expectRunning(env.namespace, images['graphmemory/api'])
    const failures = Array.from({ length: revision - 1 }, (_, i) => [i + 2, 'failed'])
    expect((await readReleases(admin, env.namespace)).map((r) => [r.revision, r.status]).sort()).toEqual([[1, 'deployed'], ...failures])
  }, 600_000)
})
