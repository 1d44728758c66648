// The log collector bundle (k8s/cluster/log-collector) against the lab's cluster (`make lab-up`): admitted in its own
// privileged namespace, refused in an application namespace (Pod Security restricted), out of the deployer's reach,
// and on the real node it ships a real pod's JSON log line, parsed, to the log store stand-in.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import * as k8s from '@kubernetes/client-node'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import * as lc from './log-collector.mjs'
import * as node from './node.mjs'
import { dryApply, refusal } from '../lib/api-checks.js'

const REPO = path.resolve(__dirname, '..', '..')
const id = `${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`
/** A throw-away namespace labelled exactly like the application's (k8s/base/namespace.yaml). */
const appNs = `lab-logs-test-${id}`
const appNsLabels: Record<string, string> = parse(fs.readFileSync(path.join(REPO, 'k8s', 'base', 'namespace.yaml'), 'utf8')).metadata.labels

const clients = (file: string) => {
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(file)
  return { core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), objects: k8s.KubernetesObjectApi.makeApiClient(kc) }
}
let admin: ReturnType<typeof clients>
let bundle: any[]

const daemonSet = () => structuredClone(bundle.find((o) => o.kind === 'DaemonSet'))
/** A Pod made from the DaemonSet's template, as the DaemonSet controller makes them. */
const collectorPod = (namespace: string): k8s.V1Pod => {
  const t = daemonSet().spec.template
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: `otel-collector-${id}`, namespace, labels: t.metadata.labels }, spec: t.spec }
}

/** A pod on the real node, in the application-like namespace, that prints `lines` and exits. */
const writer = (name: string, lines: string[]): k8s.V1Pod => ({
  metadata: { name },
  spec: {
    nodeSelector: { [node.NODE_LABEL.key]: node.NODE_LABEL.value },
    tolerations: [{ key: node.NODE_TAINT.key, operator: 'Equal', value: node.NODE_TAINT.value, effect: node.NODE_TAINT.effect }],
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{
      name: 'writer', image: labVar('LAB_IMAGE_DEBIAN'), imagePullPolicy: 'IfNotPresent',
      command: ['sh', '-c', 'printf "%s\\n" "$@"', 'writer', ...lines],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    }],
  },
})

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`${what}: not seen after ${timeoutMs / 1000}s`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

type LogRecord = { resource: Record<string, string>, attributes: Record<string, string>, body: string, severity: string, timestamp: string }

/** The records of the debug exporter's detailed output (the log store's stdout). */
function records(text: string): LogRecord[] {
  const out: LogRecord[] = []
  let resource: Record<string, string> = {}
  let rec: LogRecord | undefined
  let into: Record<string, string> | undefined
  for (const line of text.split('\n')) {
    const attr = line.match(/^\s+-> ([^:]+): \w+\((.*)\)$/)
    if (attr && into) into[attr[1]] = attr[2]
    else if (/ResourceLog #\d+/.test(line)) { resource = {}; rec = undefined; into = undefined }
    else if (line.startsWith('Resource attributes:')) into = resource
    else if (line.startsWith('LogRecord #')) { rec = { resource, attributes: {}, body: '', severity: '', timestamp: '' }; out.push(rec); into = undefined }
    else if (rec && line.startsWith('Attributes:')) into = rec.attributes
    else if (rec && line.startsWith('Body: ')) rec.body = line.replace(/^Body: \w+\((.*)\)$/, '$1')
    else if (rec && line.startsWith('SeverityText: ')) rec.severity = line.slice(14).trim()
    else if (rec && line.startsWith('Timestamp: ')) rec.timestamp = line.slice(11).trim()
    else if (!line.startsWith(' ')) into = undefined
  }
  return out
}

/** Runs a writer pod to completion. */
async function write(name: string, lines: string[]) {
  await admin.core.createNamespacedPod({ namespace: appNs, body: writer(name, lines) })
  await until(`the pod ${name} finished`, async () => {
    const p = await admin.core.readNamespacedPod({ name, namespace: appNs })
    return p.status?.phase === 'Succeeded' ? true : undefined
  })
}

/** The records the log store printed that came from the test's namespace. */
async function stored(): Promise<LogRecord[]> {
  const [store] = (await admin.core.listNamespacedPod({ namespace: lc.NAMESPACE, labelSelector: `app.kubernetes.io/name=${lc.LOG_STORE}` })).items
  const text = await admin.core.readNamespacedPodLog({ name: store.metadata!.name!, namespace: lc.NAMESPACE, sinceSeconds: 900 })
  return records(text).filter((r) => r.resource['k8s.namespace.name'] === appNs)
}

const collectorPods = async () =>
  (await admin.core.listNamespacedPod({ namespace: lc.NAMESPACE, labelSelector: 'app.kubernetes.io/name=otel-collector' })).items

describe('the log collector bundle', () => {
  beforeAll(async () => {
    admin = clients(labVar('KUBECONFIG_LAB'))
    await lc.up() // idempotent: the bundle as committed, rolled out
    bundle = await lc.render(lc.BUNDLE)
    await admin.core.createNamespace({ body: { metadata: { name: appNs, labels: { ...appNsLabels, 'graphmemory.dev/test': 'log-collector' } } } })
    await until('the default ServiceAccount', () => admin.core.readNamespacedServiceAccount({ name: 'default', namespace: appNs }).then(() => true, () => undefined))
  })

  afterAll(async () => {
    if (admin) await admin.core.deleteNamespace({ name: appNs }).catch(() => undefined)
  })

  it('passes a server-side dry run as the cluster owner, in its privileged namespace', async () => {
    expect(bundle.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(expect.arrayContaining(
      ['Namespace/graphmemory-logging', 'ServiceAccount/otel-collector', 'DaemonSet/otel-collector', expect.stringMatching(/^ConfigMap\/otelcol-config-/)]))
    const ns = bundle.find((o) => o.kind === 'Namespace')
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged')
    for (const o of bundle) await dryApply(admin, o)
    // the ConfigMap is the repository's file, byte for byte
    const cm = bundle.find((o) => o.kind === 'ConfigMap')
    expect(cm.data['otelcol.kubernetes.yaml']).toBe(fs.readFileSync(path.join(REPO, 'monitoring', 'logging', 'otelcol.kubernetes.yaml'), 'utf8'))
    // the collector's pod, as the DaemonSet controller would make it, is admitted there
    await admin.core.createNamespacedPod({ namespace: lc.NAMESPACE, body: collectorPod(lc.NAMESPACE), dryRun: 'All' })
  })

  it('is refused in an application namespace (Pod Security restricted), with the reasons', async () => {
    // its ServiceAccount there too, so that Pod Security is what refuses it
    const sa = bundle.find((o) => o.kind === 'ServiceAccount')
    await admin.core.createNamespacedServiceAccount({ namespace: appNs, body: { ...sa, metadata: { ...sa.metadata, namespace: appNs } } })
    const why = await refusal(admin.core.createNamespacedPod({ namespace: appNs, body: collectorPod(appNs), dryRun: 'All' }))
    expect(why).toMatch(/^403 Forbidden: .*violates PodSecurity "restricted:latest"/)
    expect(why).toContain('restricted volume types (volumes "pod-logs", "offsets" use restricted volume type "hostPath")')
    expect(why).toContain('runAsUser=0 (pod must not set runAsUser=0)')
    // the DaemonSet object itself is stored (Pod Security checks pods), and every pod it makes is refused
    const ds = { ...daemonSet(), metadata: { ...daemonSet().metadata, namespace: appNs } }
    await admin.apps.createNamespacedDaemonSet({ namespace: appNs, body: ds })
    const event = await until('FailedCreate of the DaemonSet', async () => {
      const list = await admin.core.listNamespacedEvent({ namespace: appNs, fieldSelector: `involvedObject.kind=DaemonSet,reason=FailedCreate` })
      return list.items[0]?.message
    })
    expect(event).toMatch(/violates PodSecurity "restricted:latest": .*volumes "pod-logs", "offsets" use restricted volume type "hostPath"/)
    const status = (await admin.apps.readNamespacedDaemonSet({ name: 'otel-collector', namespace: appNs })).status
    expect(status?.currentNumberScheduled ?? 0).toBe(0)
  })

  it('is out of the namespaced deployer\'s reach', async () => {
    const deployer = clients(labVar('KUBECONFIG_DEPLOYER'))
    for (const o of bundle.filter((x) => ['Namespace', 'DaemonSet'].includes(x.kind))) {
      const why = await refusal(dryApply(deployer, o))
      expect(why).toMatch(/^403 Forbidden: .* "system:serviceaccount:graphmemory-system:deployer" cannot patch resource/)
    }
  })

  it('ships a JSON log line written by a pod on the real node, parsed, to the log store', async () => {
    const onNode = (await collectorPods()).find((p) => p.spec?.nodeName === node.NODE_NAME)
    expect(onNode?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True')
    expect(onNode?.spec?.containers[0].image).toBe(await lc.pinned(labVar('LAB_IMAGE_OTELCOL')))

    const requestId = `lab-${id}`
    const time = new Date().toISOString() // the services' format: UTC, milliseconds
    const line = JSON.stringify({ time, level: 'WARNING', logger: 'gmi.lab.test', message: 'log collector test', request_id: requestId, status: 503 })
    const t0 = Date.now()
    await write('writer', [line, `plain text ${requestId}`])
    const written = Date.now()
    const found = await until(`request id ${requestId} in the log store's output`, async () => {
      const mine = (await stored()).filter((r) => r.resource['k8s.pod.name'] === 'writer')
      return mine.length >= 2 ? mine : undefined
    })
    console.log(`log collector: writer pod created → finished ${((written - t0) / 1000).toFixed(1)} s, → both lines in the store ${((Date.now() - written) / 1000).toFixed(1)} s`)

    const json = found.find((r) => r.attributes.request_id === requestId)!
    expect(json.resource).toMatchObject({
      'k8s.namespace.name': appNs, 'k8s.pod.name': 'writer', 'k8s.container.name': 'writer', 'k8s.node.name': node.NODE_NAME,
    })
    expect(json.attributes).toMatchObject({ level: 'WARNING', logger: 'gmi.lab.test', message: 'log collector test', time, 'log.iostream': 'stdout' })
    expect(json.attributes.status).toBe('503')
    expect(json.severity).toBe('WARNING')
    // the record's time is the line's `time` (Go prints it without trailing zeros)
    expect(new Date(json.timestamp.replace(/ \+0000 UTC$/, 'Z').replace(' ', 'T')).toISOString()).toBe(time)
    const plain = found.find((r) => r.body === `plain text ${requestId}`)
    expect(plain?.attributes.request_id).toBeUndefined()
  })
  it('resumes after a restart: a line written while no collector runs is shipped once, nothing is shipped twice', async () => {
    const before = await stored()
    expect(before.length).toBeGreaterThanOrEqual(2) // the previous test's lines
    // no collector on the node while the line is written: its DaemonSet asks for a node that does not exist
    await admin.apps.patchNamespacedDaemonSet({ name: lc.DAEMONSET, namespace: lc.NAMESPACE,
      body: { spec: { template: { spec: { nodeSelector: { [node.NODE_LABEL.key]: 'paused-by-test' } } } } } },
    k8s.setHeaderOptions('Content-Type', 'application/merge-patch+json'))
    try {
      await until('no collector pod', async () => ((await collectorPods()).length === 0 ? true : undefined))
      await write('written-while-down', [JSON.stringify({ time: new Date().toISOString(), level: 'INFO', message: 'while down', request_id: `down-${id}` })])
      expect((await stored()).some((r) => r.attributes.request_id === `down-${id}`)).toBe(false)
    } finally {
      await lc.up() // the bundle as committed again (server-side apply takes the selector back), rolled out
    }
    const t0 = Date.now()
    const after = await until('the line written while down', async () => {
      const all = await stored()
      return all.some((r) => r.attributes.request_id === `down-${id}`) ? all : undefined
    })
    console.log(`log collector: line written while down in the store ${((Date.now() - t0) / 1000).toFixed(1)} s after the collector was back`)
    // give a re-read a batch timeout's chance to show up, then count: every line exactly once
    await new Promise((r) => setTimeout(r, 3000))
    const final = await stored()
    const count = (pred: (r: LogRecord) => boolean) => final.filter(pred).length
    expect(count((r) => r.attributes.request_id === `down-${id}`)).toBe(1)
    for (const r of before) expect(count((x) => x.body === r.body && x.resource['k8s.pod.name'] === r.resource['k8s.pod.name'])).toBe(1)
    expect(after.length).toBeGreaterThan(before.length)
  })
})
