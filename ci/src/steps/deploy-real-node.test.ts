// The guarded deploy with the application REALLY running: the lab's real node (kubelet + containerd, see
// docs/lab-kubernetes.md) instead of kwok, its data on the node's volumes (lab/components/storage.mjs). The pipeline's own build and publish put the three service images in the
// release registry (real digests; the engine's cache makes a second run cheap), the dev overlay is rendered with the
// lab-real-node component, and the deployer identity deploys it into a throw-away namespace. Then two bad releases:
// an API image whose entrypoint exits 3 (built from the real image by Dagger, published beside it), and an API
// image by a digest the registry does not have. Each must fail naming the pod and its condition, and be rolled back
// automatically to the release whose pods are Ready again on the node. Then data written through the API (the graph, an
// API key in Postgres) and a key in Redis survive deleting every pod and a rolling update of every workload. Last,
// dev, staging and prod together: all their pods placed and Ready on the one node at once. Needs `make lab-up`.
import crypto from 'node:crypto'
import { connection } from '@dagger.io/dagger'
import { stringify } from 'yaml'
import net from 'node:net'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { labVar } from '../../../lab/env.js'
import { labPinned, labPipeline, labRegistryAuth, labSigning, publishLabImages, repoSource } from '../../../lab/pipeline.js'
import { roleBinding } from '../../../lab/components/deployer.mjs'
import { ensurePullSecret } from '../../../lab/components/node.mjs'
import { ownHosts } from '../../../lab/components/app-env.testkit.js'
import { Kube, type KubeObject } from '../adapters/kubernetes.js'
import { environment, type Environment } from '../config/environments.js'
import { parseManifests } from '../plan/manifests.js'
import { deployRelease, type ReleaseRequest } from './deploy.js'
import { readReleases } from './history.js'
import { authFor, publish } from './publish.js'
import { renderManifest, renderRelease, requiredSecrets } from './release.js'
import { ServiceName } from '../config/services.js'

const RUN = crypto.randomBytes(3).toString('hex')
/** A fixed commit: the same source gives the same images, so a second run publishes nothing new. */
const COMMIT = 'ea1e0de0ea1e0de0ea1e0de0ea1e0de0ea1e0de0'
const NODE = labVar('LAB_NODE_NAME')
const STORAGE_CLASS = labVar('LAB_STORAGE_CLASS')
const dev = environment('dev')
const ENVS = ['dev', 'staging', 'prod'] as const

let admin: Kube
let deployer: Kube
let template: string // the dev overlay with lab-real-node, the good images
let images: Record<string, string>
let crashingApi: string // the API image whose entrypoint exits 3
let missingApi: string // the API repository, a digest it does not have
let required: Awaited<ReturnType<typeof requiredSecrets>>
let missingComponent: unknown
/** Each environment's manifest with lab-real-node, and its required Secrets (the last test deploys all three). */
const rendered: Record<string, { manifest: string; required: Awaited<ReturnType<typeof requiredSecrets>> }> = {}
const namespaces: string[] = []

beforeAll(async () => {
  admin = Kube.fromFile(labVar('KUBECONFIG_LAB'))
  deployer = Kube.fromFile(labVar('KUBECONFIG_DEPLOYER'))
  await connection(async () => {
    const source = repoSource()
    const pipeline = labPipeline(source, COMMIT)
    const { user, password } = labRegistryAuth()
    const services = await publishLabImages(pipeline, { user, password })
    // signed with the lab's key: prod's namespace admits only signed images of ours (policy-controller, k8s/overlays/prod)
    const signing = labSigning()
    for (const ref of Object.values(services)) await pipeline.sign(ref, signing.key, signing.password, user, password)
    const api = services['graphmemory/api']
    const crashRef = `${api.slice(0, api.indexOf('@'))}-crash`
    crashingApi = await publish(pipeline.build(ServiceName.api).withEntrypoint(['python3', '-c', 'import sys; print("api: refusing to start (crash test)"); sys.exit(3)']),
      crashRef, authFor(crashRef, user, password))
    missingApi = `${api.slice(0, api.indexOf('@'))}@sha256:${crypto.createHash('sha256').update(`missing ${RUN}`).digest('hex')}`
    const release = await renderRelease(source, dev, services, labPinned(), labVar('LAB_IMAGE_KUSTOMIZE'), ['lab-real-node'])
    template = release.manifest
    images = release.images
    required = await requiredSecrets(source, dev, ['lab-real-node'])
    for (const name of ENVS) {
      const e = environment(name)
      rendered[name] = {
        manifest: (await renderRelease(source, e, services, labPinned(), labVar('LAB_IMAGE_KUSTOMIZE'), ['lab-real-node'])).manifest,
        required: await requiredSecrets(source, e, ['lab-real-node']),
      }
    }
    missingComponent = await renderManifest(source, dev, images, labVar('LAB_IMAGE_KUSTOMIZE'), ['no-such-part']).catch((e: Error) => e)
  })
}, 1_200_000) // hang guard: a cold build of the three images on a loaded machine

afterAll(async () => {
  await Promise.all(namespaces.map((name) => admin.delete({ apiVersion: 'v1', kind: 'Namespace', name })))
})

/** A fresh namespace standing for an environment (dev by default): the deployer bound there, the pull secret in it. */
async function sandbox(label = 'real', pullSecret = true, base: Environment = dev): Promise<Environment> {
  const namespace = `gmi-t-${label}-${RUN}`
  namespaces.push(namespace)
  await admin.ensureNamespace(namespace)
  await admin.apply(roleBinding(namespace) as KubeObject)
  if (pullSecret) await ensurePullSecret(namespace)
  return { ...base, namespace }
}

/** A rendered manifest moved into the sandbox, with the API image replaced when `api` is given. */
const manifestFor = (env: Environment, api?: string, text = template, from = 'graphmemory-dev'): string => {
  const moved = text.replaceAll(from, env.namespace)
  return parseManifests(api ? moved.replaceAll(images['graphmemory/api'], api) : moved).map((o) => `---\n${stringify(ownHosts(o, env.namespace))}`).join('')
}

/** Values for every required Secret's keys (URLs where a key names one: Alertmanager reads them as such). */
const secretsFor = (req: Awaited<ReturnType<typeof requiredSecrets>>): Record<string, Record<string, string>> =>
  Object.fromEntries(Object.entries(req.secrets).map(([name, s]) => [name, Object.fromEntries(s.keys.map((k) => [k,
    /url/.test(k) ? `http://127.0.0.1:9/${crypto.randomBytes(6).toString('hex')}` : s.type === 'kubernetes.io/tls' ? `not checked: ${k}` : crypto.randomBytes(12).toString('hex')]))]))

const secrets = () => {
  const s = secretsFor(required)
  delete s['lab-release-pull'] // the lab writes it (ensurePullSecret), never the deploy
  return s
}

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

/** The workloads of a manifest (Deployments and StatefulSets), each name as often as its replicas. */
const workloadPods = (manifest: string): string[] => parseManifests(manifest)
  .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
  .flatMap((o) => Array<string>((o.spec as { replicas?: number }).replicas ?? 1).fill(o.metadata.name!)).sort()

/** Each workload of a namespace (Deployments and StatefulSets) → the replicas it asks for now. */
async function liveReplicas(ns: string): Promise<Record<string, number>> {
  type Workload = KubeObject & { spec: { replicas?: number } }
  const all = [...await admin.list<Workload>('apps/v1', 'Deployment', { namespace: ns }), ...await admin.list<Workload>('apps/v1', 'StatefulSet', { namespace: ns })]
  return Object.fromEntries(all.map((w) => [w.metadata.name, w.spec.replicas ?? 1]))
}

/** The workload a pod belongs to: its name without the ReplicaSet hash and pod suffix, or the StatefulSet ordinal. */
const workloadOf = (pod: string) => pod.replace(/-[a-z0-9]{5,10}-[a-z0-9]{5}$|-\d+$/, '')

/** Every workload's pods Ready on the real node, the API on `api`; nothing else left running. */
async function expectRunning(ns: string, api: string, manifest = template): Promise<void> {
  const live = (await pods(ns)).filter((p) => !p.leaving)
  expect(live.map((p) => workloadOf(p.name)).sort()).toEqual(workloadPods(manifest))
  for (const p of live) expect({ pod: p.name, node: p.node, ready: p.ready }).toEqual({ pod: p.name, node: NODE, ready: true })
  for (const p of live.filter((q) => workloadOf(q.name) === 'api')) expect(p.images).toEqual([api])
}

/** Polls until every workload of the namespace has its pods Ready on the node (expectRunning passes), or fails with it. */
async function waitRunning(ns: string, api: string, manifest = template, timeoutMs = TIMEOUT_SECONDS * 1000): Promise<void> {
  await vi.waitFor(() => expectRunning(ns, api, manifest), { timeout: timeoutMs, interval: 1000 })
}

describe('deploy on the real node (pods really run)', () => {
  let env: Environment
  let firstSecrets: Record<string, Record<string, string>>

  it('renders the overlay with the lab-real-node component only when asked, and refuses a component that is not there', () => {
    const objects = parseManifests(template)
    const deployments = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    expect(deployments.length).toBeGreaterThanOrEqual(5)
    type PodSpec = { nodeSelector?: unknown; imagePullSecrets?: unknown; volumes?: { name: string; emptyDir?: unknown }[]; containers: { resources?: { requests?: { cpu?: string } } }[] }
    for (const o of deployments) {
      const spec = (o.spec as { template: { spec: PodSpec } }).template.spec
      expect(spec.nodeSelector, o.metadata.name).toEqual({ 'graphmemory.dev/real-node': 'true' })
      expect(spec.imagePullSecrets).toEqual([{ name: 'lab-release-pull' }])
      // real volumes: no data folder swapped for an emptyDir; the lab's CPU request
      expect(spec.volumes?.filter((v) => v.emptyDir && /data/.test(v.name)) ?? [], o.metadata.name).toEqual([])
      expect(spec.containers[0].resources?.requests?.cpu, o.metadata.name).toBe('10m')
    }
    // every claim, standalone or a StatefulSet's template, names the real node's class
    const claims = [
      ...objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => [o.metadata.name, (o.spec as { storageClassName?: string }).storageClassName]),
      ...objects.filter((o) => o.kind === 'StatefulSet').flatMap((o) => ((o.spec as { volumeClaimTemplates?: { metadata: { name: string }; spec: { storageClassName?: string } }[] }).volumeClaimTemplates ?? [])
        .map((t) => [`${o.metadata.name}/${t.metadata.name}`, t.spec.storageClassName])),
    ]
    expect(claims.length).toBeGreaterThanOrEqual(3)
    for (const [name, cls] of claims) expect({ name, cls }).toEqual({ name, cls: STORAGE_CLASS })
    // no Grafana in the lab's environments (its lab image is a stand-in that cannot run: k8s/components/
    // lab-real-node/left-out.yaml), nothing left that served only it; Prometheus, Alertmanager and the exporters stay,
    // Prometheus with its discovery RBAC and its claim
    for (const name of ['staging', 'prod']) {
      const ids = parseManifests(rendered[name].manifest).map((o) => `${o.kind}/${o.metadata.name}`)
      expect(ids.filter((n) => /grafana/.test(n)), name).toEqual([])
      expect(ids, name).toEqual(expect.arrayContaining(['Role/prometheus-discovery', 'RoleBinding/prometheus-discovery', 'PersistentVolumeClaim/prometheus-data']))
      expect(workloadPods(rendered[name].manifest), name).toEqual(expect.arrayContaining(['prometheus', 'alertmanager', 'postgres-exporter', 'redis-exporter']))
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
    firstSecrets = secrets()
    const first = await deployRelease(deployer, request(env, manifestFor(env), { secrets: firstSecrets }))
    expect(first).toMatchObject({ revision: 1, changed: true })
    await expectRunning(env.namespace, images['graphmemory/api'])
    // every claim bound on the real node, by the lab's provisioner, to a folder under the lab's state folder
    type Claim = KubeObject & { spec: { storageClassName?: string; volumeName?: string }; status?: { phase?: string } }
    const bound = await admin.list<Claim>('v1', 'PersistentVolumeClaim', { namespace: env.namespace })
    expect(bound.length).toBeGreaterThanOrEqual(3)
    for (const c of bound) {
      expect({ claim: c.metadata.name, cls: c.spec.storageClassName, phase: c.status?.phase }).toEqual({ claim: c.metadata.name, cls: STORAGE_CLASS, phase: 'Bound' })
      const pv = await admin.get<KubeObject & { spec: { local?: { path: string } } }>({ apiVersion: 'v1', kind: 'PersistentVolume', name: c.spec.volumeName! })
      expect(pv?.spec.local?.path.startsWith(`${labVar('LAB_STORAGE_VOLUMES')}/`), c.metadata.name).toBe(true)
    }
  }, 600_000)

  /** Bad releases of the API, in order (each one's revision follows the last); each is caught and rolled back to release 1. */
  const badReleases = [
    { what: 'an API that exits at start fails the release (its pod, exit code, crash loop)', api: () => crashingApi, revision: 2,
      reason: 'CrashLoopBackOff: pod \\1-\\S+ container \\1 exited \\d+ times, last with code 3 \\(Error\\)' },
    { what: 'an API image by a digest the registry lacks fails the release (ErrImagePull)', api: () => missingApi, revision: 3,
      reason: '(ErrImagePull|ImagePullBackOff): pod \\1-\\S+ container \\1: [^\\n]*not found' },
  ]

  it.each(badReleases)('$what, and the previous release runs again', async ({ api, revision, reason }) => {
    const failed = deployRelease(deployer, request(env, manifestFor(env, api()), { images: { ...images, 'graphmemory/api': api() } }))
    // the API image also runs the graph service: the rollout names whichever of the two it saw fail first
    await expect(failed).rejects.toThrow(new RegExp(`release ${revision} of dev failed and was rolled back[\\s\\S]*Deployment ${env.namespace}/(api|graph): ` +
      `${reason}[\\s\\S]*rolled back to release 1`))
    await expectRunning(env.namespace, images['graphmemory/api'])
    const failures = Array.from({ length: revision - 1 }, (_, i) => [i + 2, 'failed'])
    expect((await readReleases(admin, env.namespace)).map((r) => [r.revision, r.status]).sort()).toEqual([[1, 'deployed'], ...failures])
  }, 600_000)

  // -- data on the node's volumes -----------------------------------------------------------------------------------

  /** Where the API answers from this machine: its Service's cluster IP (kube-proxy), or a Ready pod's IP if headless. */
  async function apiUrl(ns: string): Promise<string> {
    const svc = await admin.get<KubeObject & { spec: { clusterIP?: string; ports: { port: number }[] } }>({ apiVersion: 'v1', kind: 'Service', name: 'api', namespace: ns })
    if (svc?.spec.clusterIP && svc.spec.clusterIP !== 'None') return `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`
    type Pod = KubeObject & { status?: { podIP?: string } }
    const pod = (await admin.list<Pod>('v1', 'Pod', { namespace: ns, labelSelector: 'app.kubernetes.io/name=api' }))[0]
    return `http://${pod.status!.podIP}:${svc!.spec.ports[0].port}`
  }

  async function call(ns: string, method: string, path: string, key?: string, body?: unknown): Promise<{ status: number; json: any }> {
    const r = await fetch(`${await apiUrl(ns)}${path}`, {
      method, headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) }, body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(20000),
    })
    return { status: r.status, json: await r.json().catch(() => undefined) }
  }

  /** The last lines the namespace's API pods logged above debug level, for a failure's message. */
  async function apiLogs(ns: string): Promise<string> {
    const core = admin.config.makeApiClient(k8s.CoreV1Api)
    const names = (await admin.list('v1', 'Pod', { namespace: ns, labelSelector: 'app.kubernetes.io/name in (api,graph)' })).map((p) => p.metadata!.name!)
    const logs = await Promise.all(names.map((name) => core.readNamespacedPodLog({ name, namespace: ns, tailLines: 200 }).catch((e: Error) => e.message)))
    return names.map((n, i) => `${n}:\n${String(logs[i]).split('\n').filter((l) => l && !l.includes('"level": "debug"')).slice(-8).join('\n')}`).join('\n')
  }

  /** One Redis command (RESP inline) against the namespace's Redis pod, with its password; resolves to the reply line. */
  async function redis(ns: string, ...command: string[]): Promise<string> {
    type Pod = KubeObject & { status?: { podIP?: string } }
    const pod = (await admin.list<Pod>('v1', 'Pod', { namespace: ns, labelSelector: 'app.kubernetes.io/name=redis' }))[0]
    const resp = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`
    return new Promise((resolve, reject) => {
      const sock = net.connect(6379, pod.status!.podIP!)
      let out = ''
      sock.setTimeout(10000, () => { sock.destroy(); reject(new Error(`redis ${command[0]}: no answer (${out})`)) })
      sock.on('data', (d) => {
        out += d.toString()
        const lines = out.split('\r\n')
        // AUTH's +OK, then the command's reply (a bulk string is a $len line and its value)
        if (lines.length >= 3 && (!lines[1].startsWith('$') || lines[1] === '$-1' || lines.length >= 4)) {
          sock.end()
          resolve(lines[1].startsWith('$') && lines[1] !== '$-1' ? lines[2] : lines[1])
        }
      })
      sock.on('error', reject)
      sock.write(resp(['AUTH', firstSecrets['graphmemory-redis'].password]) + resp(command))
    })
  }

  /** Data in each store: a memory (the graph), an API key (Postgres), a key in Redis; returns what to read back. */
  async function writeData(ns: string): Promise<{ memory: { id: string; text: string }; key: string; marker: string }> {
    const boot = firstSecrets['graphmemory-api']['bootstrap-api-key']
    const text = `kept across pods ${RUN} ${Date.now()}`
    const made = await call(ns, 'POST', '/memories', boot, { text, tags: ['persistence'], project: 'lab' })
    expect(made.status, `${JSON.stringify(made.json)}\n${await apiLogs(ns)}`).toBe(201)
    const key = await call(ns, 'POST', '/api-keys', boot, { name: `persist-${RUN}-${Date.now()}` })
    expect(key.status, JSON.stringify(key.json)).toBe(201)
    const marker = `marker-${crypto.randomBytes(4).toString('hex')}`
    expect(await redis(ns, 'SET', 'graphmemory-lab-test', marker)).toBe('+OK')
    return { memory: { id: made.json.id, text }, key: key.json.key, marker }
  }

  /** Reads it all back: the memory by id, a write with the new key (checked against Postgres), the Redis key. */
  async function expectData(ns: string, data: Awaited<ReturnType<typeof writeData>>): Promise<void> {
    const got = await call(ns, 'GET', `/memories/${data.memory.id}`)
    expect({ status: got.status, text: got.json?.text }).toEqual({ status: 200, text: data.memory.text })
    // the API checks a key against Postgres within its 2 s dependency timeout: just after every pod restarted, the
    // first connection of a loaded node may take longer (503, "postgres unavailable"); a lost key would be 401
    let write = { status: 0, json: undefined as unknown }
    const writeWithKey = async () => (write = await call(ns, 'POST', '/memories', data.key, { text: `written with the key made before ${RUN}`, project: 'lab' })).status
    await expect.poll(writeWithKey, { timeout: 60_000, interval: 2000 }).not.toBe(503)
    expect(write.status, `${JSON.stringify(write.json)}\n${await apiLogs(ns)}`).toBe(201)
    expect(await redis(ns, 'GET', 'graphmemory-lab-test')).toBe(data.marker)
  }

  /** The namespace's pods by uid, those being deleted left out (to tell that they were all replaced). */
  const podUids = async (ns: string) => new Set((await admin.list('v1', 'Pod', { namespace: ns })).filter((p) => !p.metadata!.deletionTimestamp).map((p) => p.metadata!.uid!))

  let data: Awaited<ReturnType<typeof writeData>>

  it('data written through the API, and in Redis, survives deleting every pod of the environment', async () => {
    data = await writeData(env.namespace)
    const before = await podUids(env.namespace)
    // Redis saves its snapshot when it stops (SIGTERM, the default save points); Postgres and the graph write through
    for (const p of await admin.list('v1', 'Pod', { namespace: env.namespace })) {
      await admin.delete({ apiVersion: 'v1', kind: 'Pod', name: p.metadata!.name!, namespace: env.namespace })
    }
    await waitRunning(env.namespace, images['graphmemory/api'])
    const after = await podUids(env.namespace)
    expect([...after].filter((u) => before.has(u))).toEqual([])
    await expectData(env.namespace, data)
  }, 600_000)

  it('and a rolling update of every workload (a new release whose pod templates all changed)', async () => {
    const before = await podUids(env.namespace)
    const rolled = parseManifests(manifestFor(env)).map((o) => {
      const t = (o.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template
      if (t && (o.kind === 'Deployment' || o.kind === 'StatefulSet')) t.metadata = { ...t.metadata, annotations: { ...t.metadata?.annotations, 'graphmemory.dev/lab-test-roll': RUN } }
      return `---\n${stringify(o)}`
    }).join('')
    const out = await deployRelease(deployer, request(env, rolled))
    expect(out.changed).toBe(true)
    await waitRunning(env.namespace, images['graphmemory/api'])
    expect([...(await podUids(env.namespace))].filter((u) => before.has(u))).toEqual([])
    await expectData(env.namespace, data)
  }, 600_000)

  it('the API scaled to 3 replicas (its HPA\'s floor raised, as an operator would) serves the same data from each', async () => {
    type Pod = KubeObject & { status?: { podIP?: string; conditions?: { type: string; status: string }[] } }
    const hpa = await admin.get<KubeObject & { spec: { minReplicas: number; maxReplicas: number } }>({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'api', namespace: env.namespace })
    expect(hpa, 'the API has an HPA').toBeDefined()
    await admin.apply({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'api', namespace: env.namespace }, spec: { ...hpa!.spec, minReplicas: 3 } } as KubeObject, { fieldManager: 'lab-test-scale' })
    const ready = async () => (await admin.list<Pod>('v1', 'Pod', { namespace: env.namespace, labelSelector: 'app.kubernetes.io/name=api' }))
      .filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    await expect.poll(async () => (await ready()).length, { timeout: 180_000, interval: 1000 }).toBe(3)
    const replicas = await ready()
    const direct = async (pod: Pod, method: string, path: string, key: string, body?: unknown) => {
      const port = (pod.spec as { containers: { ports?: { containerPort: number }[] }[] }).containers[0].ports![0].containerPort
      const r = await fetch(`http://${pod.status!.podIP}:${port}${path}`, {
        method, headers: { 'content-type': 'application/json', 'x-api-key': key }, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(20000),
      })
      return { status: r.status, json: await r.json().catch(() => undefined) }
    }
    // a memory written through one replica is read, with the same key, from every replica
    const text = `one graph behind ${replicas.length} API replicas ${RUN}`
    const made = await direct(replicas[0], 'POST', '/memories', data.key, { text, project: 'lab' })
    expect(made.status, JSON.stringify(made.json)).toBe(201)
    for (const pod of replicas) {
      for (const id of [made.json.id, data.memory.id]) {
        const got = await direct(pod, 'GET', `/memories/${id}`, data.key)
        expect({ pod: pod.metadata.name, status: got.status }).toEqual({ pod: pod.metadata.name, status: 200 })
      }
      expect((await direct(pod, 'GET', `/memories/${made.json.id}`, data.key)).json?.text).toBe(text)
    }
    await admin.apply({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'api', namespace: env.namespace }, spec: { ...hpa!.spec } } as KubeObject, { fieldManager: 'lab-test-scale' })
  }, 600_000)
})

describe('dev, staging and prod on the real node at once', () => {
  it('all three deployed side by side: every pod of the three placed and Ready on the node at the same time', async () => {
    const envs = await Promise.all(ENVS.map((name) => sandbox(`all-${name}`, true, environment(name))))
    const manifests = ENVS.map((name, i) => manifestFor(envs[i], undefined, rendered[name].manifest, `graphmemory-${name}`))
    // one after another, as promotions go: three environments starting at once on the node's two shared cores time
    // their probes out (startup and liveness probes seen failing), and dev's first rollout failed so once in CI;
    // what is checked here is that all three fit and run on the node together
    for (const [i, name] of ENVS.entries()) {
      const req = { ...rendered[name].required, namespace: envs[i].namespace }
      const values = secretsFor(req)
      delete values['lab-release-pull']
      await deployRelease(deployer, { ...request(envs[i], manifests[i], { secrets: values }), required: req, timeoutSeconds: 600 })
    }
    // one look at all three: nothing Pending elsewhere, nothing unready
    const seen = await Promise.all(envs.map((e) => pods(e.namespace)))
    // each workload as many times as it runs now: the HPAs act (metrics-server) and may have scaled a Deployment
    // below the manifest's starting replicas within the lab's 30 s scale-down window
    const replicas = await Promise.all(envs.map((e) => liveReplicas(e.namespace)))
    ENVS.forEach((name, i) => {
      const live = seen[i].filter((p) => !p.leaving)
      expect([...new Set(live.map((p) => workloadOf(p.name)))].sort(), name).toEqual([...new Set(workloadPods(manifests[i]))])
      expect(live.map((p) => workloadOf(p.name)).sort(), name).toEqual(Object.entries(replicas[i]).flatMap(([w, n]) => Array<string>(n).fill(w)).sort())
      for (const p of live) expect({ env: name, pod: p.name, node: p.node, ready: p.ready }).toEqual({ env: name, pod: p.name, node: NODE, ready: true })
    })
    expect(seen.flat().filter((p) => !p.leaving).length).toBeGreaterThanOrEqual(new Set(workloadPods(manifests[0])).size * 3)
  }, 900_000)
})
