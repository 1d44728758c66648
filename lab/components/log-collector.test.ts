// The log collector bundle (k8s/cluster/log-collector) against the lab's cluster (`make lab-up`): admitted in its own
// privileged namespace, refused in an application namespace (Pod Security restricted), out of the deployer's reach,
// and on the real node it ships a real pod's JSON log line, parsed, to the log store (VictoriaLogs), where a LogsQL
// query finds it by its request id and an error line by its level within a bounded time; the store keeps 30 days.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import * as k8s from '@kubernetes/client-node'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { labVar } from '../env.js'
import * as lc from './log-collector.mjs'
import { render } from './kustomize.mjs'
import { waitDefaultServiceAccount } from '../lib/kube.mjs'
import { until } from '../lib/until.testkit.js'
import * as node from './node.mjs'
import { realNodePod } from './pods.testkit.js'
import { dryApply, refusal } from '../lib/api-checks.js'
import { query } from '../../scripts/logs.mjs'

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
const writer = (name: string, lines: string[]): k8s.V1Pod =>
  realNodePod(name, { name: 'writer', image: labVar('LAB_IMAGE_DEBIAN'), command: ['sh', '-c', 'printf "%s\\n" "$@"', 'writer', ...lines] })


/** A line as the store returns it: its fields (the JSON line's, the resource's), `_msg` (the line) and `_time`. */
type Entry = Record<string, string>

/** The bound the tests hold the store to: a line written is found by a query within this time. */
const FOUND_WITHIN_MS = 30000
let storeUrl: string

/** Runs a writer pod to completion. */
async function write(name: string, lines: string[]) {
  await admin.core.createNamespacedPod({ namespace: appNs, body: writer(name, lines) })
  await until(`the pod ${name} finished`, async () => {
    const p = await admin.core.readNamespacedPod({ name, namespace: appNs })
    return p.status?.phase === 'Succeeded' ? true : undefined
  })
}

/** The lines the store holds from the test's namespace that match `q` (LogsQL), oldest first. */
const stored = (q = '*'): Promise<Entry[]> => query(storeUrl, q, { since: '30m', limit: 1000, namespace: appNs })

const collectorPods = async () =>
  (await admin.core.listNamespacedPod({ namespace: lc.NAMESPACE, labelSelector: 'app.kubernetes.io/name=otel-collector' })).items

describe('the log collector bundle', () => {
  beforeAll(async () => {
    admin = clients(labVar('KUBECONFIG_LAB'))
    await lc.up() // idempotent: the bundle as committed, rolled out
    storeUrl = await lc.storeUrl()
    bundle = await render(lc.BUNDLE)
    await admin.core.createNamespace({ body: { metadata: { name: appNs, labels: { ...appNsLabels, 'graphmemory.dev/test': 'log-collector' } } } })
    await waitDefaultServiceAccount(admin.core, appNs)
  })

  afterAll(async () => {
    if (admin) await admin.core.deleteNamespace({ name: appNs }).catch(() => undefined)
  })

  it('passes a server-side dry run as the cluster owner, in its privileged namespace', async () => {
    expect(bundle.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(expect.arrayContaining(
      ['Namespace/graphmemory-logging', 'ServiceAccount/otel-collector', 'DaemonSet/otel-collector', expect.stringMatching(/^ConfigMap\/otelcol-config-/),
        'Service/log-store', 'PersistentVolumeClaim/log-store-data', 'Deployment/log-store']))
    // online, the store is the official image by its pinned tag
    expect(bundle.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].image).toBe('victoriametrics/victoria-logs:v1.52.2')
    const ns = bundle.find((o) => o.kind === 'Namespace')
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged')
    // the store's claim as a new one: the lab's claim of that name (its own class and size) cannot be changed into it
    for (const o of bundle) await dryApply(admin, o.kind === 'PersistentVolumeClaim' ? { ...o, metadata: { ...o.metadata, name: `${o.metadata.name}-${id}` } } : o)
    // the ConfigMap is the repository's file, byte for byte
    const cm = bundle.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('otelcol-config-')) // (the other: jaeger-config)
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

  it('keeps 30 days on its own volume: the running store says -retentionPeriod=30d and writes to its claim', async () => {
    const store = bundle.find((o) => o.kind === 'Deployment' && o.metadata.name === lc.LOG_STORE)
    expect(store.spec.template.spec.containers[0].args).toContain('-retentionPeriod=30d')
    const flags = await (await fetch(`${storeUrl}/flags`)).text()
    expect(flags).toMatch(/^-retentionPeriod="30d"$/m)
    expect(flags).toMatch(/^-storageDataPath="\/victoria-logs-data"$/m)
    const [pod] = (await admin.core.listNamespacedPod({ namespace: lc.NAMESPACE, labelSelector: `app.kubernetes.io/name=${lc.LOG_STORE}` })).items
    expect(pod.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe('log-store-data')
    const claim = await admin.core.readNamespacedPersistentVolumeClaim({ name: 'log-store-data', namespace: lc.NAMESPACE })
    expect(claim.status?.phase).toBe('Bound')
    expect(claim.spec?.storageClassName).toBe('lab-local-path')
    expect(pod.spec?.containers[0].image).toBe(await lc.pinned(labVar('LAB_IMAGE_VICTORIALOGS')))
  })

  it('ships a JSON log line written by a pod on the real node, parsed, to the log store: found by its request id, an error by its level', async () => {
    const onNode = (await collectorPods()).find((p) => p.spec?.nodeName === node.NODE_NAME)
    expect(onNode?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True')
    expect(onNode?.spec?.containers[0].image).toBe(await lc.pinned(labVar('LAB_IMAGE_OTELCOL')))

    const requestId = `lab-${id}`
    const time = new Date().toISOString() // the services' format: UTC, milliseconds
    const line = JSON.stringify({ time, level: 'WARNING', logger: 'gmi.lab.test', message: 'log collector test', request_id: requestId, status: 503 })
    const error = JSON.stringify({ time, level: 'ERROR', logger: 'gmi.lab.test', message: 'log collector test failure', request_id: `err-${id}` })
    const t0 = Date.now()
    await write('writer', [line, `plain text ${requestId}`, error])
    const written = Date.now()
    const [json] = await until(`request id ${requestId} found in the log store`, async () => {
      const got = await stored(`request_id:="${requestId}"`)
      return got.length ? got : undefined
    }, FOUND_WITHIN_MS)
    const foundAfter = Date.now() - written
    console.log(`log collector: writer pod created → finished ${((written - t0) / 1000).toFixed(1)} s, → found by request id ${(foundAfter / 1000).toFixed(1)} s`)
    expect(foundAfter).toBeLessThan(FOUND_WITHIN_MS)

    expect(json).toMatchObject({
      'k8s.namespace.name': appNs, 'k8s.pod.name': 'writer', 'k8s.container.name': 'writer', 'k8s.node.name': node.NODE_NAME,
      level: 'WARNING', logger: 'gmi.lab.test', message: 'log collector test', time, 'log.iostream': 'stdout', status: '503',
      severity_text: 'WARNING', _msg: line,
    })
    // the entry's time is the line's `time`, not when it was shipped
    expect(new Date(json._time).toISOString()).toBe(time)
    // the error line, by its level alone (the namespace holds three lines of that pod, one of them an error)
    const errors = await until('the error line found by level', async () => {
      const got = await stored('level:=ERROR')
      return got.length ? got : undefined
    }, FOUND_WITHIN_MS)
    expect(errors.map((e) => e.message)).toEqual(['log collector test failure'])
    // a plain line is kept as it is, searchable by a word of it, with no parsed fields
    const [plain] = await stored(`"plain text ${requestId}"`)
    expect(plain?._msg).toBe(`plain text ${requestId}`)
    expect(plain?.request_id).toBeUndefined()
    // and the store refuses a query that is not LogsQL, saying so
    await expect(query(storeUrl, 'level:(', { namespace: appNs })).rejects.toThrow(/the log store refused the query \(HTTP 400\)/)
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
      expect((await stored()).some((r) => r.request_id === `down-${id}`)).toBe(false)
    } finally {
      await lc.up() // the bundle as committed again (server-side apply takes the selector back), rolled out
    }
    const t0 = Date.now()
    const after = await until('the line written while down', async () => {
      const all = await stored()
      return all.some((r) => r.request_id === `down-${id}`) ? all : undefined
    })
    console.log(`log collector: line written while down in the store ${((Date.now() - t0) / 1000).toFixed(1)} s after the collector was back`)
    // give a re-read a batch timeout's chance to show up, then count: every line exactly once (a fixed wait, not a
    // poll: it proves an absence, no duplicate)
    await new Promise((r) => setTimeout(r, 3000))
    const final = await stored()
    const count = (pred: (r: Entry) => boolean) => final.filter(pred).length
    expect(count((r) => r.request_id === `down-${id}`)).toBe(1)
    for (const r of before) expect(count((x) => x._msg === r._msg && x['k8s.pod.name'] === r['k8s.pod.name'])).toBe(1)
    expect(after.length).toBeGreaterThan(before.length)
  })
})
