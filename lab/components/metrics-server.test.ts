// metrics-server in the lab (lab/components/metrics-server.mjs): the resource metrics API answers through the API
// server's aggregation layer with figures for the real node's pods (what `kubectl top` reads), and the API's HPA acts
// on them: a bounded load against a deployed environment's API (its Service's cluster IP, through kube-proxy on the
// host; the ingress's address once the lab has one) takes it from 1 to at least 3 Ready replicas, and it goes back to 1
// after the load stops (the lab-real-node component shortens the scale-down window to 30 s). Needs `make lab-up`.
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import { load, watchScale } from '../lib/load.mjs'
import { apiServiceAvailable, API_SERVICE, NAMESPACE, DEPLOYMENT } from './metrics-server.mjs'
import { deployApp, readyPods, apiUrl, type AppEnv } from './app-env.testkit.js'

const kc = new k8s.KubeConfig()
kc.loadFromFile(labVar('KUBECONFIG_LAB'))
const custom = kc.makeApiClient(k8s.CustomObjectsApi)
const core = kc.makeApiClient(k8s.CoreV1Api)
const NODE = labVar('LAB_NODE_NAME')

interface PodMetrics { metadata: { name: string; namespace: string }; containers: { name: string; usage: { cpu: string; memory: string } }[] }

/** CPU in millicores from a quantity ("12345678n", "3m", "1"). */
const millicores = (q: string): number => q.endsWith('n') ? Number(q.slice(0, -1)) / 1e6 : q.endsWith('u') ? Number(q.slice(0, -1)) / 1e3
  : q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000

const podMetrics = async (namespace?: string): Promise<PodMetrics[]> => ((namespace
  ? await custom.listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace, plural: 'pods' })
  : await custom.listClusterCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', plural: 'pods' })) as { items: PodMetrics[] }).items

describe('metrics-server', () => {
  it('is registered as metrics.k8s.io and available through the aggregation layer', async () => {
    expect(await apiServiceAvailable()).toEqual({ ok: true, why: `${API_SERVICE} available` })
    const svc = await kc.makeApiClient(k8s.ApiregistrationV1Api).readAPIService({ name: API_SERVICE })
    // the serving certificate is checked against the lab CA, not skipped
    expect(svc.spec?.insecureSkipTLSVerify ?? false).toBe(false)
    expect(svc.spec?.caBundle).toBeTruthy()
    const dep = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: DEPLOYMENT, namespace: NAMESPACE })
    expect(dep.spec?.template.spec?.containers[0].args).not.toContain('--kubelet-insecure-tls')
  })

  it('gives CPU and memory figures for the pods on the real node, and none for the kwok nodes\' pods', async () => {
    const onNode = (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE},status.phase=Running` })).items
      .filter((p) => !p.spec?.hostNetwork)
    expect(onNode.length).toBeGreaterThan(0)
    const metrics = await podMetrics()
    const key = (ns: string, name: string) => `${ns}/${name}`
    const measured = new Map(metrics.map((m) => [key(m.metadata.namespace, m.metadata.name), m]))
    // metrics-server's own pod (running for more than one scrape) is there, with figures
    const own = metrics.find((m) => m.metadata.namespace === NAMESPACE && m.metadata.name.startsWith(`${DEPLOYMENT}-`))
    expect(own, 'metrics-server\'s own pod').toBeDefined()
    expect(millicores(own!.containers[0].usage.cpu)).toBeGreaterThan(0)
    expect(Number.parseInt(own!.containers[0].usage.memory)).toBeGreaterThan(0)
    // most pods of the node have figures (a pod started within the last scrape has none yet)
    const covered = onNode.filter((p) => measured.has(key(p.metadata!.namespace!, p.metadata!.name!)))
    expect(covered.length / onNode.length).toBeGreaterThan(0.8)
    // every measured pod runs on the real node: kwok's nodes are not scraped (their addresses are not this machine's)
    const nodes = new Map((await core.listPodForAllNamespaces()).items.map((p) => [key(p.metadata!.namespace!, p.metadata!.name!), p.spec?.nodeName]))
    for (const m of metrics) expect({ pod: key(m.metadata.namespace, m.metadata.name), node: nodes.get(key(m.metadata.namespace, m.metadata.name)) ?? NODE }).toEqual({ pod: key(m.metadata.namespace, m.metadata.name), node: NODE })
    const node = await custom.getClusterCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', plural: 'nodes', name: NODE }) as { usage: { cpu: string } }
    expect(millicores(node.usage.cpu)).toBeGreaterThan(0)
  })
})

describe('the API\'s HPA under a bounded load', () => {
  let app: AppEnv
  beforeAll(async () => { app = await deployApp('hpa') }, 1_200_000)
  afterAll(async () => { await app?.remove() })

  it('scales the API from 1 to at least 3 Ready replicas under load, and back to 1 once the load stops', async () => {
    const ns = app.env.namespace
    const hpa = await kc.makeApiClient(k8s.AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ name: 'api', namespace: ns })
    expect(hpa.spec?.minReplicas).toBe(1)
    expect(hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(30) // the lab's window (lab-real-node)
    // at rest: one replica, and the HPA has read its CPU from metrics-server
    const rest = await watchScale(kc, ns, 'api', (s) => s.ready === 1 && s.cpu !== undefined, { timeoutMs: 180_000 })
    expect(rest.ok, `at rest: ${JSON.stringify(rest.samples.slice(-5))}`).toBe(true)

    const url = `${await apiUrl(app.admin, ns)}/health`
    const stop = new AbortController()
    const t0 = performance.now()
    // bounded: 4 connections, at most 240 s, stopped as soon as 3 replicas are Ready
    const running = load(url, { concurrency: 4, seconds: 240, signal: stop.signal })
    const up = await watchScale(kc, ns, 'api', (s) => s.ready >= 3, { timeoutMs: 240_000, since: t0 })
    stop.abort()
    const sent = await running
    expect(up.ok, `scale up: ${JSON.stringify(up.samples)}`).toBe(true)
    expect(sent.ok).toBeGreaterThan(0)
    expect((await readyPods(app.admin, ns, 'api')).length).toBeGreaterThanOrEqual(3)

    const t1 = performance.now()
    const down = await watchScale(kc, ns, 'api', (s) => s.ready === 1 && s.desired === 1, { timeoutMs: 420_000, since: t1 })
    expect(down.ok, `scale down: ${JSON.stringify(down.samples)}`).toBe(true)
    process.stdout.write(`HPA: 1 → ${up.state.ready} Ready in ${up.seconds.toFixed(0)} s of load (${sent.sent} requests, ${sent.failed} failed); ` +
      `back to 1 in ${down.seconds.toFixed(0)} s after it stopped\n`)
  }, 900_000)
})
