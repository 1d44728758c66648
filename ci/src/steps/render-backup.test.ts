// The backup component (k8s/components/backup, in every overlay, and the lab's k8s/components/lab-backup) rendered on the REAL lab:
// kustomize in the lab's Dagger engine, the CronJob and its pod sent to the lab's API server as server-side dry runs
// under Pod Security `restricted`, its NetworkPolicies evaluated. Needs `make lab-up`.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connection, dag } from '@dagger.io/dagger'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labRenderImages } from '../../../lab/pipeline.js'
import { Kube, type KubeObject } from '../adapters/kubernetes.js'
import { ENVIRONMENT_NAMES, EnvironmentName, environment } from '../config/environments.js'
import { assertAppLabels, objectId, parseManifests, parseRequiredSecrets, podSpecs, referencedSecrets, unpinnedImages, type K8sObject } from '../plan/manifests.js'
import { allowedFlows, type Endpoint, type Port } from '../plan/network-flows.js'
import { render } from './render.js'
import { quotaComputed } from './quota.testkit.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const K8S = path.join(REPO, 'k8s')
/** The overlays as they are (online), and with the lab's components (the lab's default, LAB_DEPLOY_COMPONENTS). */
const ONLINE: string[] = []
const LAB = ['lab-real-node', 'lab-backup']

let kube: Kube
let images: Record<string, string>
const rendered = new Map<string, K8sObject[]>()
const key = (env: EnvironmentName, components: string[]) => `${env}:${components.join(',')}`

beforeAll(async () => {
  kube = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  images = await labRenderImages()
  const jobs = ENVIRONMENT_NAMES.flatMap((env) => [ONLINE, LAB].map((c) => ({ env, c })))
  await connection(async () => {
    const k8s = dag.host().directory(K8S)
    const monitoring = dag.host().directory(path.join(REPO, 'monitoring'))
    const texts = await Promise.all(jobs.map(({ env, c }) => render(k8s, env, images, labVar('LAB_IMAGE_KUSTOMIZE'), c, monitoring).contents()))
    jobs.forEach(({ env, c }, i) => rendered.set(key(env, c), parseManifests(texts[i])))
  })
}, 300000)

const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)
type Container = { name: string; image: string; env?: { name: string; value?: string; valueFrom?: unknown }[]; securityContext?: Record<string, unknown> }

describe('the backup component, rendered', () => {
  it.each(ENVIRONMENT_NAMES)('%s: an hourly CronJob of the pinned API and Postgres images, non-root, no plain secret values', (name) => {
    for (const components of [ONLINE, LAB]) {
      const objs = rendered.get(key(name, components))!
      assertAppLabels(objs)
      expect(unpinnedImages(objs)).toEqual([])
      const cron = find(objs, 'CronJob', 'backup')!
      expect(cron.metadata.namespace).toBe(environment(name).namespace)
      expect(cron.spec).toMatchObject({ schedule: '17 * * * *', concurrencyPolicy: 'Forbid' })
      const [pod] = podSpecs([cron])
      const containers = [...(pod.spec.initContainers as Container[]), ...(pod.spec.containers as Container[])]
      expect(containers.map((c) => [c.name, c.image])).toEqual([['pg-dump', images['graphmemory/postgres']], ['backup', images['graphmemory/api']]])
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
      for (const c of containers) {
        expect(c.securityContext, c.name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
        // credentials are files (Secret volumes), never env values
        for (const e of c.env ?? []) expect(`${e.name}=${e.value ?? ''}`, c.name).not.toMatch(/KEY|PASSWORD|SECRET(?!S?_DIR)/)
      }
      const config = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('graphmemory-backup-')) as K8sObject & { data: Record<string, string> }
      expect(config.data.BACKUP_S3_ENDPOINT).toBe(components === LAB ? 'http://10.88.0.1:9190' : '')
      expect(config.data).toMatchObject({ BACKUP_S3_BUCKET: 'graphmemory-backups', BACKUP_KEEP_DAILY: '7', BACKUP_KEEP_WEEKLY: '4' })
      if (components === LAB) expect(pod.spec).toMatchObject({ nodeSelector: { 'graphmemory.dev/real-node': 'true' }, imagePullSecrets: [{ name: 'lab-release-pull' }] })
    }
  })

  it.each(ENVIRONMENT_NAMES)('%s: the Secret it reads is on the overlay\'s required list', async (name) => {
    // what the deploy merges (release.ts requiredSecrets): the overlay's list, then each component's
    const read = (f: string) => parseRequiredSecrets(fs.readFileSync(path.join(K8S, f), 'utf8'), f)
    const required = read(`${environment(name).overlay}/required-secrets.yaml`)
    for (const c of LAB) if (fs.existsSync(path.join(K8S, 'components', c, 'required-secrets.yaml'))) Object.assign(required.secrets, read(`components/${c}/required-secrets.yaml`).secrets)
    expect(required.secrets['graphmemory-backup-s3']).toEqual({ type: 'Opaque', keys: ['access-key-id', 'secret-access-key'] })
    const referenced = referencedSecrets(rendered.get(key(name, LAB))!)
    expect(referenced['graphmemory-backup-s3']).toBeDefined()
    expect(Object.keys(referenced).filter((s) => !required.secrets[s])).toEqual([])
  })

  it.each(ENVIRONMENT_NAMES)('%s: the backup pods reach the graph, Postgres and the object store, and nothing reaches them', (name) => {
    const ns = environment(name).namespace
    const nsLabels = { 'kubernetes.io/metadata.name': ns }
    const pod = (n: string): Endpoint => ({ name: n, namespace: ns, namespaceLabels: nsLabels, labels: { 'app.kubernetes.io/name': n } })
    const ends: Endpoint[] = [pod('backup'), pod('graph'), pod('postgres'), pod('api'), pod('redis'),
      { name: 'internet', ip: '203.0.113.10' }, { name: 'lab-object-store', ip: '10.88.0.1' }, { name: 'private', ip: '10.1.2.3' }]
    const probes: Port[] = [8001, 5432, 6379, 8000, 443, 9190, 1].map((port) => ({ protocol: 'TCP', port }))
    const fromOrTo = (flows: string[]) => flows.filter((f) => /^backup |→ backup /.test(f))
    expect(fromOrTo(allowedFlows(rendered.get(key(name, ONLINE))!, ns, ends, probes)))
      .toEqual(['backup → graph TCP/8001', 'backup → internet TCP/443', 'backup → postgres TCP/5432'])
    expect(fromOrTo(allowedFlows(rendered.get(key(name, LAB))!, ns, ends, probes)))
      .toEqual(['backup → graph TCP/8001', 'backup → internet TCP/443', 'backup → lab-object-store TCP/9190', 'backup → postgres TCP/5432'])
  })
})

describe('the backup CronJob on the lab API server', () => {
  it('prod with the lab components: the CronJob and its pod pass a server-side dry run under Pod Security restricted', async () => {
    const objs = rendered.get(key(EnvironmentName.prod, LAB))!
    const testNs = `gm-render-backup-${crypto.randomBytes(3).toString('hex')}`
    const nsObj = find(objs, 'Namespace', environment('prod').namespace)!
    const { 'policy.sigstore.dev/include': _admission, ...labels } = nsObj.metadata.labels ?? {}
    await kube.ensureNamespace(testNs, { ...labels, 'graphmemory.dev/test': 'render' })
    onTestFinished(async () => { await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name: testNs }) })
    const inNs = (o: K8sObject): KubeObject => ({ ...structuredClone(o), metadata: { ...structuredClone(o.metadata), namespace: testNs } }) as KubeObject
    for (const o of objs.filter((x) => ['ServiceAccount', 'LimitRange', 'ResourceQuota'].includes(x.kind))) await kube.apply(inNs(o))
    await quotaComputed(kube, testNs)
    const cron = find(objs, 'CronJob', 'backup')!
    for (const o of [cron, ...objs.filter((x) => x.kind === 'NetworkPolicy' && /backup/.test(x.metadata.name))]) {
      expect((await kube.apply(inNs(o), { dryRun: true })).metadata.uid, objectId(o)).toBeTruthy()
    }
    const [at] = podSpecs([cron])
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'backup-dry-run', namespace: testNs, labels: at.metadata.labels as Record<string, string> }, spec: at.spec }
    expect((await kube.apply(pod as KubeObject, { dryRun: true })).metadata.uid).toBeTruthy()
  })
})
