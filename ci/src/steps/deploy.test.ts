// The guarded deploy on the REAL lab cluster, as the lab's deployer identity (RBAC-bound to the namespace, not
// cluster-admin). The dev overlay is rendered once by kustomize in the lab engine; each test deploys it into a
// namespace of its own (admin creates it and binds the deployer there), so tests are isolated and leave nothing.
// kwok marks pods Ready whatever their image, so the service images here are well-formed digests never pulled;
// an unready release is made the way kwok honours: a pod no node can take.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connection, dag } from '@dagger.io/dagger'
import { parse, stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { mirrorDigest } from '../../../lab/pipeline.js'
import { roleBinding } from '../../../lab/components/deployer.mjs'
import { Kube, KubeError, type KubeObject } from '../adapters/kubernetes.js'
import { environment, type Environment } from '../config/environments.js'
import { parseManifests, parseRequiredSecrets, type K8sObject, type RequiredSecrets } from '../plan/manifests.js'
import type { SecretValues } from '../plan/secrets.js'
import { LOCK_NAME } from '../plan/lock.js'
import { deployRelease, type ReleaseRequest } from './deploy.js'
import { readReleases } from './history.js'
import { LockHeldError } from './lock.js'
import { render } from './render.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const RUN = crypto.randomBytes(3).toString('hex')
const digest = (s: string) => crypto.createHash('sha256').update(s + RUN).digest('hex')
const serviceRef = (service: string, version: string) => `127.0.0.1:5001/graphmemory/${service}@sha256:${digest(service + version)}`

let admin: Kube
let deployer: Kube
let template: string // the dev overlay, rendered with version "1" images
let images: Record<string, string>
const namespaces: string[] = []


beforeAll(async () => {
  admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
  images = {
    'graphmemory/postgres': await mirrorDigest(labVar('LAB_IMAGE_POSTGRES')),
    'graphmemory/redis': await mirrorDigest(labVar('LAB_IMAGE_REDIS')),
    ...Object.fromEntries(['api', 'analytics', 'dashboard'].map((s) => [`graphmemory/${s}`, serviceRef(s, '1')])),
  }
  await connection(async () => {
    template = await render(dag.host().directory(path.join(REPO, 'k8s')), 'dev', images, labVar('LAB_IMAGE_KUSTOMIZE')).contents()
  })
}, 300000)

afterAll(async () => {
  await Promise.all(namespaces.map((name) => admin.delete({ apiVersion: 'v1', kind: 'Namespace', name })))
})

/** A fresh namespace standing for dev, with the deployer bound in it; returns the environment and its required secrets. */
async function sandbox(label: string): Promise<{ env: Environment; required: RequiredSecrets }> {
  const namespace = `gmi-t-${label}-${RUN}`
  namespaces.push(namespace)
  await admin.ensureNamespace(namespace)
  await admin.apply(roleBinding(namespace) as KubeObject)
  const required = parseRequiredSecrets(fs.readFileSync(path.join(REPO, 'k8s/overlays/dev/required-secrets.yaml'), 'utf8'))
  return { env: { ...environment('dev'), namespace }, required: { ...required, namespace } }
}

/** The dev manifest moved into the sandbox's namespace, optionally edited object by object. */
function manifestFor(env: Environment, edit: (objects: K8sObject[]) => K8sObject[] = (o) => o): string {
  const objects = parseManifests(template.replaceAll('graphmemory-dev', env.namespace))
  return edit(objects).map((o) => `---\n${stringify(o)}`).join('')
}

const withImage = (service: string, version: string) => (objects: K8sObject[]) =>
  objects.map((o) => (o.kind === 'Deployment' && o.metadata.name === service
    ? parse(stringify(o).replaceAll(serviceRef(service, '1'), serviceRef(service, version))) as K8sObject : o))

const secrets = (): SecretValues => ({
  'graphmemory-postgres': { password: crypto.randomBytes(12).toString('hex') },
  'graphmemory-redis': { password: crypto.randomBytes(12).toString('hex') },
  'graphmemory-api': { 'bootstrap-api-key': crypto.randomBytes(12).toString('hex') },
  'graphmemory-tls': { 'tls.crt': 'not checked by the API server', 'tls.key': 'not checked either' },
  'graphmemory-backup-s3': { 'access-key-id': crypto.randomBytes(8).toString('hex'), 'secret-access-key': crypto.randomBytes(12).toString('hex') },
})

const request = (env: Environment, required: RequiredSecrets, manifest: string, extra: Partial<ReleaseRequest> = {}): ReleaseRequest =>
  ({ env, required, manifest, images, commit: `test-${RUN}`, origin: 'deploy', timeoutSeconds: 90, ...extra })

/** name → generation of every Deployment and StatefulSet: a spec change bumps it, nothing else does. */
async function generations(ns: string): Promise<Record<string, number>> {
  const kinds = await Promise.all(['Deployment', 'StatefulSet'].map(async (kind) =>
    (await admin.list<KubeObject>('apps/v1', kind, { namespace: ns })).map((o) => [`${kind}/${o.metadata.name}`, o.metadata.generation ?? 0])))
  return Object.fromEntries(kinds.flat())
}

const imageOf = async (ns: string, name: string) =>
  ((await admin.get<KubeObject>({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: ns })) as unknown as
    { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0].image

describe('deploy (guarded, on the lab cluster)', () => {
  it('deploys a release until every workload is available, records it, and a second deploy applies nothing', async () => {
    const { env, required } = await sandbox('first')
    const first = await deployRelease(deployer, request(env, required, manifestFor(env), { secrets: secrets() }))
    expect(first).toMatchObject({ revision: 1, changed: true })
    for (const name of ['api', 'graph', 'analytics', 'dashboard']) {
      const d = await admin.readDeployment(name, env.namespace)
      expect(d?.availableReplicas, name).toBe(d?.replicas)
    }
    const before = await generations(env.namespace)
    // every workload the manifest holds (the API, the graph, analytics, the dashboard, Postgres, Redis) is there
    expect(Object.keys(before).sort()).toEqual(parseManifests(manifestFor(env)).filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind))
      .map((o) => `${o.kind}/${o.metadata.name}`).sort())
    expect(Object.keys(before)).toContain('Deployment/graph')
    const second = await deployRelease(deployer, request(env, required, manifestFor(env)))
    expect(second).toMatchObject({ revision: 1, changed: false })
    expect(second.plan.entries.every((e) => e.action === 'unchanged')).toBe(true)
    expect(await generations(env.namespace)).toEqual(before)
    const history = await readReleases(admin, env.namespace)
    expect(history.map((r) => [r.revision, r.status])).toEqual([[1, 'deployed']])
    expect(history[0].images).toEqual(images)
    expect(await admin.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: LOCK_NAME, namespace: env.namespace })).toBeUndefined()
  })

  it('a change to one service rolls only that Deployment; an unready release is rolled back automatically', async () => {
    const { env, required } = await sandbox('roll')
    await deployRelease(deployer, request(env, required, manifestFor(env), { secrets: secrets() }))
    const before = await generations(env.namespace)

    const changed = await deployRelease(deployer, request(env, required, manifestFor(env, withImage('api', '2'))))
    expect(changed.plan.entries.filter((e) => e.action !== 'unchanged')).toEqual([
      { object: `Deployment ${env.namespace}/api`, action: 'update', fields: ['spec.template.spec.containers[0].image'] },
    ])
    const after = await generations(env.namespace)
    expect(after['Deployment/api']).toBe(before['Deployment/api'] + 1)
    expect({ ...after, 'Deployment/api': 0 }).toEqual({ ...before, 'Deployment/api': 0 })

    // version 3 cannot be scheduled anywhere, and its Deployment gives up after 5 s
    const unready = (objects: K8sObject[]) => withImage('api', '3')(objects).map((o) => {
      if (o.kind !== 'Deployment' || o.metadata.name !== 'api') return o
      const spec = o.spec as { progressDeadlineSeconds: number; template: { spec: Record<string, unknown> } }
      spec.progressDeadlineSeconds = 5
      spec.template.spec.nodeSelector = { 'graphmemory.dev/no-such-node': 'true' }
      return o
    })
    const failed = deployRelease(deployer, request(env, required, manifestFor(env, unready)))
    await expect(failed).rejects.toThrow(new RegExp(`release 3 of dev failed and was rolled back[\\s\\S]*Deployment ${env.namespace}/api: ProgressDeadlineExceeded[\\s\\S]*FailedScheduling[\\s\\S]*rolled back to release 2`))
    expect(await imageOf(env.namespace, 'api')).toBe(serviceRef('api', '2'))
    const d = await admin.readDeployment('api', env.namespace)
    expect(d?.availableReplicas).toBe(1)
    expect((await readReleases(admin, env.namespace)).sort((a, b) => a.revision - b.revision).map((r) => [r.revision, r.status]))
      .toEqual([[1, 'superseded'], [2, 'deployed'], [3, 'failed']])
  })

  it('prunes an object dropped from the manifests, and only objects of its own inventory', async () => {
    const { env, required } = await sandbox('prune')
    const extra = (name: string, labels: Record<string, string>): K8sObject =>
      ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: env.namespace, labels }, data: { k: 'v' } })
    const ours = parseManifests(template)[1].metadata.labels! // the application labels as rendered
    await deployRelease(deployer, request(env, required, manifestFor(env, (o) => [...o, extra('dropped-later', ours)]), { secrets: secrets() }))
    // look-alikes made by someone else: one with our labels but never in a release, one without them
    await admin.apply(extra('same-labels-not-ours', ours) as KubeObject)
    await admin.apply(extra('unlabelled', {}) as KubeObject)

    const next = await deployRelease(deployer, request(env, required, manifestFor(env, withImage('dashboard', '2'))))
    expect(next.plan.entries.filter((e) => e.action === 'prune')).toEqual([{ object: `ConfigMap ${env.namespace}/dropped-later`, action: 'prune' }])
    const cm = (name: string) => admin.get({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: env.namespace })
    expect(await cm('dropped-later')).toBeUndefined()
    expect(await cm('same-labels-not-ours')).toBeDefined()
    expect(await cm('unlabelled')).toBeDefined()
  })

  it('refuses a second deploy while one holds the lock, and takes over a lock left by a killed deploy', async () => {
    const { env, required } = await sandbox('lock')
    await deployRelease(deployer, request(env, required, manifestFor(env), { secrets: secrets() }))
    const [a, b] = await Promise.allSettled([
      deployRelease(deployer, request(env, required, manifestFor(env, withImage('api', '2')))),
      deployRelease(deployer, request(env, required, manifestFor(env, withImage('api', '2')))),
    ])
    const refused = [a, b].filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(refused).toHaveLength(1)
    expect(refused[0].reason).toBeInstanceOf(LockHeldError)
    expect(String(refused[0].reason.message)).toMatch(new RegExp(`another deploy holds the lock of ${env.namespace}: held by ".*pid ${process.pid}: deploy dev"`))

    const stale = new Date(Date.now() - 120_000).toISOString().replace('Z', '000Z')
    await admin.apply({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LOCK_NAME, namespace: env.namespace },
      spec: { holderIdentity: 'ci@runner pid 1: killed deploy', leaseDurationSeconds: 30, acquireTime: stale, renewTime: stale } } as KubeObject)
    const taken = await deployRelease(deployer, request(env, required, manifestFor(env, withImage('api', '3'))))
    expect(taken.changed).toBe(true)
  })

  it('refuses bad input with one message and changes no object: missing secret, invalid manifest, bad token', async () => {
    const { env, required } = await sandbox('refuse')
    await expect(deployRelease(deployer, request(env, required, manifestFor(env)))).rejects.toThrow(
      /dev is missing required secrets: graphmemory-postgres\/password, graphmemory-redis\/password, graphmemory-api\/bootstrap-api-key, graphmemory-tls\/tls.crt, graphmemory-tls\/tls.key, graphmemory-backup-s3\/access-key-id, graphmemory-backup-s3\/secret-access-key are neither given nor in namespace/)
    expect(await generations(env.namespace)).toEqual({})
    expect(await admin.list('v1', 'Secret', { namespace: env.namespace, labelSelector: 'app.kubernetes.io/part-of=graphmemory-ide' })).toEqual([])

    await deployRelease(deployer, request(env, required, manifestFor(env), { secrets: secrets() }))
    const before = await generations(env.namespace)
    const misspelt = (objects: K8sObject[]) => withImage('api', '2')(objects).map((o) => {
      if (o.kind === 'Deployment' && o.metadata.name === 'analytics') (o.spec as { template: { spec: Record<string, unknown> } }).template.spec.restartPolicyy = 'Always'
      return o
    })
    await expect(deployRelease(deployer, request(env, required, manifestFor(env, misspelt)))).rejects.toThrow(
      /the API server refused 1 object of dev: Deployment gmi-t-refuse-\w+\/analytics: .*\.spec\.template\.spec\.restartPolicyy: field not declared in schema[\s\S]*nothing was applied/)
    expect(await generations(env.namespace)).toEqual(before) // api's change was not applied either
    expect(await imageOf(env.namespace, 'api')).toBe(serviceRef('api', '1'))

    const stranger = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'), { token: 'not-a-token' })
    await expect(deployRelease(stranger, request(env, required, manifestFor(env, withImage('api', '2'))))).rejects.toMatchObject({ kind: 'unauthorized' } satisfies Partial<KubeError>)
    expect(await generations(env.namespace)).toEqual(before)
  })
})
