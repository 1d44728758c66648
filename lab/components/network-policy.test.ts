// NetworkPolicies enforced on the real node (lab/components/network-policy.mjs: kube-router's policy controller): in a
// deployed environment (dev with lab-real-node, k8s/base/network-policies.yaml applied by the deploy), probe pods
// carrying each workload's identity (its app.kubernetes.io/name) try every workload's port, and what connects must be
// exactly what the evaluator of ci/src/plan/network-flows.ts says the namespace's stored policies allow: every allowed
// flow works (the API → Postgres among them) and nothing beyond them is open (the dashboard → Postgres, a pod of
// another namespace → Postgres, are refused). Then, with the namespace's policies deleted, the same refused flows
// connect: the refusal was the policies', enforced by the agent. Needs `make lab-up`.
import crypto from 'node:crypto'
import https from 'node:https'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import { allowed, type Endpoint, type Port } from '../../ci/src/plan/network-flows.js'
import type { K8sObject } from '../../ci/src/plan/manifests.js'
import { status as agentStatus } from './network-policy.mjs'
import { pollUntil } from '../lib/proc.mjs'
import { deployApp, readyPods, apiUrl, type AppEnv } from './app-env.testkit.js'
import { realNodePod } from './pods.testkit.js'

const kc = new k8s.KubeConfig()
kc.loadFromFile(labVar('KUBECONFIG_LAB'))
const core = kc.makeApiClient(k8s.CoreV1Api)
const net = kc.makeApiClient(k8s.NetworkingV1Api)
const RUN = crypto.randomBytes(3).toString('hex')
const OTHER = `gmi-t-netpol-other-${RUN}`

/** The workloads probed, each with the port its container listens on. */
const WORKLOADS: [string, number][] = [['dashboard', 8501], ['api', 8000], ['analytics', 8002], ['graph', 8001], ['postgres', 5432], ['redis', 6379]]

interface Target { name: string; ip: string; port: Port; endpoint: Endpoint }
interface Source { name: string; namespace: string; labels: Record<string, string>; endpoint: Endpoint }

let app: AppEnv
let targets: Target[]

const nsLabels = async (namespace: string) => ({ ...(await core.readNamespace({ name: namespace })).metadata?.labels, 'kubernetes.io/metadata.name': namespace })

/**
 * A pod on the real node (the shared realNodePod) with `labels` in `namespace` that tries each target and prints
 * `<ip>:<port> open|closed`; never Ready, so no Service sends it traffic. A target is tried up to 5 times, a second apart (TCP connect, 3 s each), and is closed only
 * when every try was refused: the policy agent adds a new pod to the policies' sets a moment after the pod starts, and
 * a single early try once found an allowed flow (the API → Redis) closed.
 */
function probePod(name: string, namespace: string, labels: Record<string, string>, list: Target[]): k8s.V1Pod {
  const tryTarget = 'r=closed; for i in 1 2 3 4 5; do if timeout 3 bash -c "exec 3<>/dev/tcp/${t%:*}/${t#*:}" 2>/dev/null; then r=open; break; fi; sleep 1; done; echo "$t $r"'
  const script = `for t in $TARGETS; do ( ${tryTarget} ) & done; wait`
  const pod = realNodePod(name, {
    name: 'probe', image: labVar('LAB_IMAGE_DEBIAN'), command: ['bash', '-c', script],
    env: [{ name: 'TARGETS', value: list.map((t) => `${t.ip}:${t.port.port}`).join(' ') }],
    readinessProbe: { exec: { command: ['false'] }, periodSeconds: 60 },
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
  }, { labels: { ...labels, 'graphmemory.dev/test': 'netpol-probe' } })
  return { ...pod, metadata: { ...pod.metadata, namespace } }
}

/** Runs a probe pod to its end and returns its log (the pod is deleted). */
async function probeLog(p: k8s.V1Pod): Promise<string> {
  const ref = { name: p.metadata!.name!, namespace: p.metadata!.namespace! }
  await core.createNamespacedPod({ namespace: ref.namespace, body: p })
  await pollUntil(() => core.readNamespacedPod(ref), {
    timeoutMs: 120_000, everyMs: 1000, done: (live) => live.status?.phase === 'Succeeded' || live.status?.phase === 'Failed',
    onTimeout: (live) => new Error(`probe pod ${ref.name} still ${(live as k8s.V1Pod | undefined)?.status?.phase} after 120 s`),
  })
  const log = await core.readNamespacedPodLog(ref)
  await core.deleteNamespacedPod(ref)
  return log
}

/**
 * Runs one probe pod per source, all at once (0.1 CPU of limits each, within the environment's quota), against every
 * target; resolves to the open/closed result of each source → target.
 */
async function probe(sources: Source[], round: string): Promise<Map<string, boolean>> {
  const pods = sources.map((s) => probePod(`probe-${s.name.replace(/\W+/g, '-')}-${round}`, s.namespace, s.labels, targets))
  const logs = await Promise.all(pods.map(probeLog))
  const result = new Map<string, boolean>()
  pods.forEach((p, i) => {
    for (const t of targets) {
      const line = logs[i].split('\n').find((l) => l.startsWith(`${t.ip}:${t.port.port} `))
      expect(line, `${p.metadata!.name}: no result for ${t.name}\n${logs[i]}`).toBeDefined()
      result.set(`${sources[i].name} → ${t.name}`, line!.endsWith(' open'))
    }
  })
  return result
}

/** A GET on the API server, the JSON as it is sent (the client's models rename fields: `from` → `_from`, `except` → `_except`). */
async function rawGet<T>(path: string): Promise<T> {
  const opts: https.RequestOptions = {}
  await kc.applyToHTTPSOptions(opts)
  return new Promise((resolve, reject) => {
    https.get(new URL(path, kc.getCurrentCluster()!.server), opts, (res) => {
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(`GET ${path}: ${res.statusCode} ${body}`))))
    }).on('error', reject)
  })
}

/** What the evaluator says the namespace's stored policies allow, per source → target. */
async function expected(sources: Source[]): Promise<Map<string, boolean>> {
  const policies = (await rawGet<{ items: K8sObject[] }>(`/apis/networking.k8s.io/v1/namespaces/${app.env.namespace}/networkpolicies`)).items
  return new Map(sources.flatMap((s) => targets.map((t) => [`${s.name} → ${t.name}`, allowed(policies, s.endpoint, t.endpoint, t.port)] as const)))
}

beforeAll(async () => {
  const agent = (await agentStatus())[0]
  expect(agent.state, `the policy agent: ${agent.address}`).toBe('ok')
  app = await deployApp('netpol')
  const ns = app.env.namespace
  const labels = await nsLabels(ns)
  targets = []
  for (const [name, port] of WORKLOADS) {
    const pod = (await readyPods(app.admin, ns, name))[0]
    expect(pod, `a Ready ${name} pod`).toBeDefined()
    targets.push({ name: `${name}:${port}`, ip: pod.status!.podIP!, port: { protocol: 'TCP', port },
      endpoint: { name, namespace: ns, namespaceLabels: labels, labels: pod.metadata.labels as Record<string, string> } })
  }
  await core.createNamespace({ body: { metadata: { name: OTHER, labels: { 'graphmemory.dev/test': 'netpol' } } } })
}, 1_200_000)

afterAll(async () => {
  await app?.remove()
  await core.deleteNamespace({ name: OTHER }).catch(() => undefined)
})

/** Each workload's identity in the environment, and the API's labels in another namespace. */
async function sources(): Promise<Source[]> {
  const ns = app.env.namespace
  const labels = await nsLabels(ns)
  const own = WORKLOADS.map(([name]) => ({ name, namespace: ns, labels: { 'app.kubernetes.io/name': name },
    endpoint: { name, namespace: ns, namespaceLabels: labels, labels: { 'app.kubernetes.io/name': name } } }))
  const otherLabels = await nsLabels(OTHER)
  const elsewhere = { name: 'api elsewhere', namespace: OTHER, labels: { 'app.kubernetes.io/name': 'api' },
    endpoint: { name: 'api elsewhere', namespace: OTHER, namespaceLabels: otherLabels, labels: { 'app.kubernetes.io/name': 'api' } } }
  return [...own, elsewhere]
}

describe('NetworkPolicies on the real node (kube-router)', () => {
  it('the environment works with its policies enforced: the API reaches Postgres, Redis and the graph (and DNS)', async () => {
    // polled for up to 60 s: right after a deploy the API may have asked for `postgres` before its pod was Ready (a
    // headless Service: no name then), and the cluster DNS keeps that answer for up to 30 s (CoreDNS `cache 30`)
    const url = `${await apiUrl(app.admin, app.env.namespace)}/ready`
    await expect.poll(async () => {
      const r = await fetch(url, { signal: AbortSignal.timeout(20_000) })
      return { status: r.status, body: await r.json() as unknown }
    }, { timeout: 60_000, interval: 2000, message: `${url}: ready, nothing failing` }).toMatchObject({ status: 200, body: { status: 'ready', failing: [] } })
  })

  it('opens exactly the flows the evaluator allows for the stored policies: the allowed ones connect, the rest are refused', async () => {
    const from = await sources()
    const want = await expected(from)
    // the table holds both kinds, or the test could not fail either way
    expect(want.get('api → postgres:5432')).toBe(true)
    expect(want.get('dashboard → api:8000')).toBe(true)
    expect(want.get('dashboard → postgres:5432')).toBe(false)
    expect(want.get('api elsewhere → postgres:5432')).toBe(false)
    const got = await probe(from, 'on')
    const show = (m: Map<string, boolean>) => [...m].filter(([, open]) => open).map(([f]) => f).sort()
    expect(show(got)).toEqual(show(want))
    process.stdout.write(`${got.size} flows probed, ${show(got).length} open, as the policies allow: ${show(got).join(', ')}\n`)
  }, 600_000)

  it('without the policies the refused flows connect: the refusal was the policies\'', async () => {
    const ns = app.env.namespace
    for (const p of (await net.listNamespacedNetworkPolicy({ namespace: ns })).items) {
      await net.deleteNamespacedNetworkPolicy({ name: p.metadata!.name!, namespace: ns })
    }
    const from = (await sources()).filter((s) => ['dashboard', 'api elsewhere'].includes(s.name))
    // the agent applies a change within a few seconds of its watch event; probed until it has (at most 60 s)
    let round = 0
    const opened = (got: Map<string, boolean>) => Boolean(got.get('dashboard → postgres:5432') && got.get('api elsewhere → postgres:5432'))
    await pollUntil(() => probe(from, `off${round++}`), { // fails unless both refused flows connect
      timeoutMs: 60_000, everyMs: 0, done: opened,
      describe: (g) => [...g].map(([flow, open]) => `${flow} ${open ? 'open' : 'closed'}`).join(', '),
      onTimeout: (_last, seen) => new Error(`the refused flows did not open within 60 s of the policies' removal: ${seen}`),
    })
  }, 600_000)
})
