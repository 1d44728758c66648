// Tests of the Kubernetes adapter against the REAL lab cluster (make lab-up): a kube-apiserver, controller-manager,
// scheduler and etcd built from source, with kwok playing the kubelet of fake nodes. Each test owns a namespace.
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import * as k8s from '@kubernetes/client-node'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { listenOnFreePort } from '../../../lab/lib/proc.mjs'
import { Kube, KubeError, type DeploymentState, type KubeObject } from './kubernetes.js'
import { poll } from './poll.js'

/** Polls get() until ok(value) (a value ok never accepts undefined); on timeout fails with the last value seen. */
async function waitUntil<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 90000): Promise<T> {
  let last: T | undefined
  return poll(async () => (ok(last = await get()) ? last : undefined), {
    timeoutMs, everyMs: 500,
    onTimeout: () => {
      const seen = JSON.stringify(last, (k, v) => (k === 'managedFields' ? undefined : v), 1)
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last seen: ${seen}`)
    },
  })
}

let kube: Kube
let kubeconfig: string

/** A fresh namespace for one test, deleted when the test finishes (pass or fail). */
async function namespace(prefix: string): Promise<string> {
  const name = `gm-test-${prefix}-${crypto.randomBytes(3).toString('hex')}`
  await kube.ensureNamespace(name, { 'graphmemory.dev/test': 'adapter' })
  onTestFinished(async () => {
    await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name })
  })
  // pods are refused until the namespace's `default` ServiceAccount exists: the controller-manager creates it
  await waitUntil(`ServiceAccount ${name}/default`,
    () => kube.get({ apiVersion: 'v1', kind: 'ServiceAccount', name: 'default', namespace: name }), Boolean, 30000)
  return name
}

function deployment(name: string, namespace: string, opts: { replicas?: number; image?: string; cpu?: string; deadline?: number } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas: opts.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      ...(opts.deadline ? { progressDeadlineSeconds: opts.deadline } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{
            name: 'web',
            image: opts.image ?? '127.0.0.1:5000/graphmemory/web:1',
            ports: [{ containerPort: 8080, name: 'http' }],
            resources: { requests: { cpu: opts.cpu ?? '100m', memory: '128Mi' } },
          }],
        },
      },
    },
  }
}

const settled = (d: DeploymentState) =>
  d.observedGeneration === d.generation && d.updatedReplicas === d.replicas && d.availableReplicas === d.replicas

/** Waits until a Deployment exists and ok(state) holds. */
async function waitDeployment(what: string, name: string, ns: string, ok: (d: DeploymentState) => boolean, timeoutMs = 90000) {
  const d = await waitUntil(what, () => kube.readDeployment(name, ns), (s) => s !== undefined && ok(s), timeoutMs)
  return d as DeploymentState
}

/**
 * A plain-HTTP relay on 127.0.0.1 in front of the lab API server, as a Kube: each request goes on as it came (method,
 * path, query, the caller's token) with its body passed through `edit`. Closed when the test finishes.
 */
async function apiFront(edit: (req: { method: string; url: string }, body: string) => string): Promise<Kube> {
  const cluster = kube.config.getCurrentCluster()!
  const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : cluster.caFile ? fs.readFileSync(cluster.caFile) : undefined
  const relay = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.from(edit({ method: req.method ?? '', url: req.url ?? '' }, Buffer.concat(chunks).toString('utf8')))
      const target = new URL(req.url ?? '/', cluster.server)
      const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) }
      const out = https.request(target, { method: req.method, headers, ca }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      })
      out.on('error', (err) => res.writeHead(502).end(String(err)))
      out.end(body)
    })
  })
  const relayPort = await listenOnFreePort(relay)
  onTestFinished(() => new Promise<void>((r) => relay.close(() => r())))
  const kc = new k8s.KubeConfig()
  kc.loadFromOptions({
    // plain HTTP on the loopback: the client refuses http:// unless told not to verify TLS (there is none to verify)
    clusters: [{ name: 'front', server: `http://127.0.0.1:${relayPort}`, skipTLSVerify: true }],
    users: [{ name: 'admin', token: kube.config.getCurrentUser()!.token }],
    contexts: [{ name: 'front', cluster: 'front', user: 'admin' }],
    currentContext: 'front',
  })
  return Kube.fromKubeConfig(kc, {}, 'a relay in front of the lab API server')
}

beforeAll(async () => {
  kubeconfig = labVar('KUBECONFIG_LAB') // from the environment, or the lab env file (lab/env.ts, a setup file)
  kube = Kube.fromFile(kubeconfig)
  expect(await kube.version()).toMatch(/^v1\.\d+\.\d+/)
})

describe('kubernetes adapter on the lab cluster', () => {
  it('server-side applies a Deployment and a Service; the Deployment becomes available', async () => {
    const ns = await namespace('apply')
    const applied = await kube.apply(deployment('web', ns, { replicas: 3 }))
    expect(applied.metadata.uid).toBeTruthy()
    const svc = await kube.apply({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http', name: 'http' }] },
    }) as k8s.V1Service
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\./)

    const d = await waitDeployment('web to become available', 'web', ns, settled)
    expect(d.availableReplicas).toBe(3)
    expect(d.observedGeneration).toBe(d.generation)
    expect(d.conditions.find((c) => c.type === 'Available')?.status).toBe('True')

    // the pods run on the lab's fake nodes
    const pods = await kube.list<k8s.V1Pod>('v1', 'Pod', { namespace: ns, labelSelector: 'app=web' })
    expect(pods).toHaveLength(3)
    for (const p of pods) {
      expect(p.spec?.nodeName).toMatch(/^lab-node-/)
      expect(p.status?.phase).toBe('Running')
    }

    // applying the same object again changes nothing
    await kube.apply(deployment('web', ns, { replicas: 3 }))
    expect((await kube.readDeployment('web', ns))!.generation).toBe(d.generation)
    expect(await kube.readDeployment('absent', ns)).toBeUndefined()
  })

  it('an update rolls a new ReplicaSet', async () => {
    const ns = await namespace('update')
    await kube.apply(deployment('api', ns, { image: '127.0.0.1:5000/graphmemory/api:1' }))
    const first = await waitDeployment('api v1 available', 'api', ns, settled)

    await kube.apply(deployment('api', ns, { image: '127.0.0.1:5000/graphmemory/api:2' }))
    const second = await waitDeployment('api v2 available', 'api', ns, settled)
    expect(second.generation).toBeGreaterThan(first.generation)
    expect(Number(second.revision)).toBe(Number(first.revision) + 1)

    const sets = await waitUntil('the old ReplicaSet scaled to 0',
      () => kube.list<k8s.V1ReplicaSet>('apps/v1', 'ReplicaSet', { namespace: ns, labelSelector: 'app=api' }),
      (rs) => rs.length === 2 && rs.some((r) => r.spec?.replicas === 0))
    const images = Object.fromEntries(sets.map((r) => [r.spec!.template!.spec!.containers[0].image, r.spec!.replicas]))
    expect(images).toEqual({ '127.0.0.1:5000/graphmemory/api:1': 0, '127.0.0.1:5000/graphmemory/api:2': 2 })
  })

  it('a Deployment that cannot be scheduled reports ProgressDeadlineExceeded', async () => {
    const ns = await namespace('deadline')
    // 64 CPUs: more than any lab node has
    await kube.apply(deployment('greedy', ns, { cpu: '64', replicas: 1, deadline: 10 }))
    const d = await waitDeployment('ProgressDeadlineExceeded', 'greedy', ns,
      (s) => s.conditions.some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded'))
    expect(d.conditions.find((c) => c.type === 'Progressing')?.status).toBe('False')
    expect(d.availableReplicas).toBe(0)
    const [pod] = await kube.list<k8s.V1Pod>('v1', 'Pod', { namespace: ns, labelSelector: 'app=greedy' })
    expect(pod.status?.phase).toBe('Pending')
    expect(pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.reason).toBe('Unschedulable')
  })

  it('a StatefulSet gets its volume claim Bound by the default StorageClass', async () => {
    const ns = await namespace('sts')
    await kube.apply({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: ns },
      spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] },
    })
    await kube.apply({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: ns },
      spec: {
        serviceName: 'db', replicas: 1, selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: { containers: [{ name: 'db', image: '127.0.0.1:5000/graphmemory/db:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] },
        },
        volumeClaimTemplates: [{
          metadata: { name: 'data' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        }],
      },
    })
    const pvc = await waitUntil('claim data-db-0 Bound',
      () => kube.get<k8s.V1PersistentVolumeClaim>({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data-db-0', namespace: ns }),
      (c) => c?.status?.phase === 'Bound')
    expect(pvc!.spec?.storageClassName).toBe('standard') // the default class was filled in by admission
    const pv = await kube.get<k8s.V1PersistentVolume>({ apiVersion: 'v1', kind: 'PersistentVolume', name: pvc!.spec!.volumeName! })
    expect(pv?.spec?.capacity?.storage).toBe('1Gi')
    await waitUntil('db-0 ready',
      () => kube.get<k8s.V1StatefulSet>({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: ns }),
      (s) => s?.status?.readyReplicas === 1)
  })

  it('asks for strict field validation: an apply with a duplicated field is refused, not resolved to one value', async () => {
    const ns = await namespace('strict')
    // the adapter's JSON cannot hold a duplicated key, so a relay in front of the API server writes one into the body
    // of the adapter's own request (method, path, query and token untouched): what a hand-written manifest could send
    const sent: string[] = []
    const front = await apiFront((req, body) => {
      if (req.method !== 'PATCH') return body // the client's discovery requests
      sent.push(req.url)
      return body.replace('"data":{', '"data":{"level":"debug",')
    })
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { level: 'info' } }
    for (const dryRun of [true, false]) {
      const err = await front.apply(cm, { dryRun }).then(() => undefined, (e: unknown) => e)
      expect(err, `dryRun=${dryRun}`).toBeInstanceOf(KubeError)
      expect(err).toMatchObject({ kind: 'invalid', status: 400 })
      expect((err as Error).message).toMatch(/key "level" already set in map/)
    }
    expect(sent.map((u) => new URL(u, 'http://x').searchParams.get('fieldValidation')), sent.join(' ')).toEqual(['Strict', 'Strict'])
    expect(await kube.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: ns })).toBeUndefined()
    // the control: the same request asking for Warn (the server's default) is stored, one of the two values kept
    const warned = await front.apply(cm, { fieldValidation: 'Warn' })
    expect(warned.data).toEqual({ level: 'info' })
  })

  it('a bad token is refused with a clear authentication message (401)', async () => {
    const bad = Kube.fromFile(kubeconfig, { token: 'not-a-valid-token' })
    const err = await bad.list('v1', 'Namespace').then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(KubeError)
    expect(err).toMatchObject({ kind: 'unauthorized', status: 401 })
    expect((err as Error).message).toContain(kube.server)
    expect((err as Error).message).toMatch(/authentication failed \(401 Unauthorized\)/)
    expect((err as Error).message).toMatch(/check .*kubeconfig.*token/)
  })

  it('a valid identity without permission is refused with a clear authorization message (403)', async () => {
    const ns = await namespace('rbac')
    await kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: ns } })
    const core = kube.config.makeApiClient(k8s.CoreV1Api)
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'nobody', namespace: ns, body: { spec: { audiences: [], expirationSeconds: 600 } },
    })
    const nobody = Kube.fromFile(kubeconfig, { token: tr.status!.token })
    const err = await nobody.list('v1', 'Secret', { namespace: 'kube-system' }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(KubeError)
    expect(err).toMatchObject({ kind: 'forbidden', status: 403 })
    expect((err as Error).message).toMatch(/authorization failed \(403 Forbidden\).*system:serviceaccount:gm-test-rbac-/)
  })
})
