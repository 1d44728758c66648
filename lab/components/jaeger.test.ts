// The lab's trace store (Jaeger v2 on the host, lab/components/jaeger.mjs) and the path the services' spans take to it
// in the cluster (`make lab-up`): a span sent to LAB_OTLP_ENDPOINT (what the pipeline uses) is found through the query
// API (LAB_JAEGER_URL) by its trace id; a pod on the real node, in a namespace like the application's with the base
// NetworkPolicies (k8s/base/network-policies.yaml, and the DNS one every lab deploy adds), exports to the collector
// Service the services' config names (k8s/base/config.env) and its span reaches Jaeger, while a pod the policy does not
// name is stopped on the way.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import * as k8s from '@kubernetes/client-node'
import { parse, parseAllDocuments } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import * as jaeger from './jaeger.mjs'
import * as lc from './log-collector.mjs'
import * as node from './node.mjs'
import { realNodePod } from './pods.testkit.js'
import { pollUntil } from '../lib/proc.mjs'
import { until } from '../lib/until.testkit.js'

const REPO = path.resolve(__dirname, '..', '..')
const id = `${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`
const appNs = `lab-traces-test-${id}`
const appNsLabels: Record<string, string> = parse(fs.readFileSync(path.join(REPO, 'k8s', 'base', 'namespace.yaml'), 'utf8')).metadata.labels
/** The services' OTLP endpoint in the cluster, as the base config gives it. */
const OTLP = /^OTEL_EXPORTER_OTLP_ENDPOINT=(.+)$/m.exec(fs.readFileSync(path.join(REPO, 'k8s', 'base', 'config.env'), 'utf8'))![1]
/** The base policies a sender needs: deny by default, DNS, and the spans' flow. */
const POLICIES = ['default-deny-all', 'allow-dns-egress', 'allow-otlp-egress']
/** The lab's own DNS policy, which every lab deploy adds (the lab's cluster DNS is a daemon on the node's address). */
const LAB_DNS = path.join(REPO, 'k8s', 'components', 'lab-real-node', 'node-dns.yaml')

let core: k8s.CoreV1Api
let net: k8s.NetworkingV1Api

const hex = (bytes: number) => crypto.randomBytes(bytes).toString('hex')

/** One span as OTLP/JSON (what an SDK's OTLP/HTTP exporter sends, in JSON rather than protobuf). */
function otlpSpan(service: string, traceId: string, name: string) {
  const now = BigInt(Date.now()) * 1_000_000n
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'lab-trace-test' }, spans: [{ traceId, spanId: hex(8), name, kind: 2,
        startTimeUnixNano: String(now - 5_000_000n), endTimeUnixNano: String(now) }] }],
    }],
  }
}

/** The trace's spans as Jaeger's query API returns them, or undefined while it has none. */
async function stored(traceId: string): Promise<{ operationName: string; processID: string }[] | undefined> {
  const r = await fetch(`${labVar('LAB_JAEGER_URL')}/api/traces/${traceId}`)
  if (r.status === 404) return undefined
  const body = await r.json() as { data?: { spans: { operationName: string; processID: string }[] }[] }
  return body.data?.[0]?.spans
}

/** A pod on the real node, labelled as the service `app`, that POSTs one span to the collector; exit 0 when accepted. */
const sender = (name: string, app: string, traceId: string): k8s.V1Pod => realNodePod(name, {
  name: 'sender', image: labVar('LAB_IMAGE_PYTHON_RUNTIME'),
  command: ['python3', '-c', [
    'import sys, time, urllib.request',
    // the policy agent programs a new pod's address some seconds after the pod starts (kube-router reacts to the
    // pod's events): sent at once, a refused pod's packets can pass before its rules exist
    'time.sleep(10)',
    'r = urllib.request.Request(sys.argv[1] + "/v1/traces", data=sys.argv[2].encode(), headers={"Content-Type": "application/json"})',
    'print(urllib.request.urlopen(r, timeout=10).status)',
  ].join('\n'), OTLP, JSON.stringify(otlpSpan(`lab-trace-${app}`, traceId, `${app} probe`))],
}, { labels: { 'app.kubernetes.io/name': app } })

/** Runs a sender to its end; its phase (Succeeded when the collector took the span). */
async function send(name: string, app: string, traceId: string): Promise<string> {
  await core.createNamespacedPod({ namespace: appNs, body: sender(name, app, traceId) })
  const p = await pollUntil(() => core.readNamespacedPod({ name, namespace: appNs }), {
    timeoutMs: 90000, everyMs: 500, done: (q) => ['Succeeded', 'Failed'].includes(q.status?.phase ?? ''),
    describe: (q) => `phase ${q.status?.phase}`,
    onTimeout: (_, seen) => new Error(`the pod ${appNs}/${name} did not finish in 90s: ${seen}`),
  })
  return p.status!.phase!
}

describe('the lab\'s trace store', () => {
  beforeAll(async () => {
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(labVar('KUBECONFIG_LAB'))
    core = kc.makeApiClient(k8s.CoreV1Api)
    net = kc.makeApiClient(k8s.NetworkingV1Api)
    await jaeger.up() // idempotent: built, running
    await lc.up() // the collector bundle as committed (its OTLP receiver, the traces forwarded to the host's Jaeger)
    await core.createNamespace({ body: { metadata: { name: appNs, labels: { ...appNsLabels, 'graphmemory.dev/test': 'traces' } } } })
    const policies = parseAllDocuments(fs.readFileSync(path.join(REPO, 'k8s', 'base', 'network-policies.yaml'), 'utf8'))
      .map((d) => d.toJS()).filter((p) => POLICIES.includes(p?.metadata?.name))
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([...POLICIES].sort())
    for (const p of [...policies, parse(fs.readFileSync(LAB_DNS, 'utf8'))]) await net.createNamespacedNetworkPolicy({ namespace: appNs, body: p })
    await until('the default ServiceAccount', () => core.readNamespacedServiceAccount({ name: 'default', namespace: appNs }).then(() => true, () => undefined))
  }, 600000)

  afterAll(async () => {
    if (core) await core.deleteNamespace({ name: appNs }).catch(() => undefined)
  })

  it('takes a span at LAB_OTLP_ENDPOINT and finds it by its trace id at LAB_JAEGER_URL', async () => {
    expect(labVar('LAB_OTLP_ENDPOINT')).toBe(jaeger.OTLP_ENDPOINT)
    const traceId = hex(16)
    const r = await fetch(`${labVar('LAB_OTLP_ENDPOINT')}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(otlpSpan('lab-trace-host', traceId, 'host probe')) })
    expect(r.status).toBe(200)
    const t0 = Date.now()
    const spans = await until(`trace ${traceId} in Jaeger`, () => stored(traceId), 30000)
    console.log(`jaeger: a span POSTed from the host found by its trace id after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    expect(spans.map((s) => s.operationName)).toEqual(['host probe'])
    const services = await (await fetch(`${labVar('LAB_JAEGER_URL')}/api/services`)).json() as { data: string[] }
    expect(services.data).toContain('lab-trace-host')
  })

  it('gets a span from a service\'s pod on the real node through the collector; a pod the policy does not name is stopped', async () => {
    const allowed = hex(16)
    expect(await send('sender-api', 'api', allowed)).toBe('Succeeded')
    const t0 = Date.now()
    const spans = await until(`trace ${allowed} (api pod → collector → Jaeger)`, () => stored(allowed), 30000)
    console.log(`jaeger: a span sent by a pod to ${OTLP} found after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    expect(spans.map((s) => s.operationName)).toEqual(['api probe'])
    // postgres is not among the services allow-otlp-egress names: default-deny holds its connection. The policy agent
    // applies a new namespace's policies to a new pod within seconds of their watch events (seen: a sender started 6 s
    // after the policies got through once; in a CI run every sender for 60 s), so each sender waits 10 s before it
    // sends, and the refusal is awaited for at most 150 s, each attempt a new trace id
    const deadline = Date.now() + 150_000
    let denied = ''
    let phase = ''
    for (let n = 0; phase !== 'Failed' && Date.now() < deadline; n++) {
      denied = hex(16)
      phase = await send(`sender-postgres-${n}`, 'postgres', denied)
      if (phase !== 'Failed') console.warn(`jaeger: sender-postgres-${n} got through before the policy agent applied the policies; again`)
    }
    expect(phase).toBe('Failed')
    const logs = await core.readNamespacedPodLog({ name: (await core.listNamespacedPod({ namespace: appNs, labelSelector: 'app.kubernetes.io/name=postgres' }))
      .items.find((p) => p.status?.phase === 'Failed')!.metadata!.name!, namespace: appNs })
    expect(logs).toMatch(/timed out|URLError/)
    // fixed, not a poll: it proves an absence (the collector's batch, 2 s, and Jaeger's, 1 s, had the span been sent)
    await new Promise((r) => setTimeout(r, 5000))
    expect(await stored(denied)).toBeUndefined()
  }, 360_000)
})
