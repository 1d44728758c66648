// The log collector in the lab's cluster, applied as the cluster owner (the lab admin): the bundle
// k8s/cluster/log-collector through its lab variant k8s/cluster/lab/log-collector (the collector and the log store,
// VictoriaLogs with 30 days' retention on a claim of lab-local-path, both on the real node). The lab sets what only it
// knows: the images (LAB_IMAGE_OTELCOL and LAB_IMAGE_VICTORIALOGS, pinned by digest, so a rebuilt image rolls the
// pods), the real node's pod log folder (its kubelet's podLogsDir, mounted where the collector reads /var/log/pods)
// and a folder of the lab's for the collector's offsets. The store is reached from the host at its pod's IP (the
// real node's pod network is routed from the host): `storeUrl()`.
import fs from 'node:fs'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { STATE } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { deploymentRollout, messageOf, setImages, waitRolledOut } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import * as kustomize from './kustomize.mjs'
import * as monitoring from './monitoring.mjs'
import * as victorialogs from './victorialogs.mjs'
import { pinnedRef } from '../lib/images.mjs'
import { pollUntil } from '../lib/proc.mjs'

export const name = 'log-collector'

/** The cluster owner's bundle, and the lab's variant of it. */
export const { BUNDLE, LAB_BUNDLE } = kustomize.clusterBundle('log-collector')
export const NAMESPACE = 'graphmemory-logging'
export const DAEMONSET = 'otel-collector'
export const LOG_STORE = 'log-store'
/** The label every object of the bundle carries (stale generated ConfigMaps are found by it). */
const PART_OF = 'app.kubernetes.io/part-of=graphmemory-log-collector'
/** The images the bundle names; the lab runs its own builds of the same releases instead. */
const OFFICIAL_IMAGE = /^otel\/opentelemetry-collector-contrib:/
const OFFICIAL_STORE_IMAGE = /^victoriametrics\/victoria-logs:/
/** The store's HTTP port (ingest and LogsQL). */
export const STORE_PORT = 9428
/** The real node's kubelet configuration (lab/components/node.mjs writes it). */
const KUBELET_CONFIG = path.join(STATE, 'node', 'kubelet-config.json')
/** Where the collector on the real node keeps its offsets (the bundle's /var/lib/graphmemory-otelcol). */
export const OFFSETS = path.join(STATE, 'log-collector', 'offsets')

const client = kubernetes.adminClient

/** The real node's pod log folder: where its kubelet writes what /var/log/pods holds on other nodes. @returns {string} */
export function podLogsDir() {
  if (!fs.existsSync(KUBELET_CONFIG)) throw new LabError('no real node to collect logs on', `${KUBELET_CONFIG} is missing`, 'run `make lab-up` (node comes first)')
  return JSON.parse(fs.readFileSync(KUBELET_CONFIG, 'utf8')).podLogsDir
}

/** The lab variant's objects with the lab's images, the real node's log folder and the lab's offsets folder. */
export async function labObjects() {
  const image = await pinnedRef(monitoring.env().LAB_IMAGE_OTELCOL)
  const storeImage = await pinnedRef(victorialogs.env().LAB_IMAGE_VICTORIALOGS)
  /** @type {Record<string, string>} */
  const folders = { '/var/log/pods': podLogsDir(), '/var/lib/graphmemory-otelcol': OFFSETS }
  const objects = setImages(setImages(await kustomize.render(LAB_BUNDLE), OFFICIAL_IMAGE, image), OFFICIAL_STORE_IMAGE, storeImage)
  for (const o of objects) {
    for (const v of o.spec?.template?.spec?.volumes ?? []) if (v.hostPath && folders[v.hostPath.path]) v.hostPath.path = folders[v.hostPath.path]
  }
  return objects
}

/**
 * Deletes the generated ConfigMaps an earlier apply left (their names carry a hash of the content).
 * @param {Set<string | undefined>} keep
 */
async function pruneConfigMaps(keep) {
  const list = await client().core.listNamespacedConfigMap({ namespace: NAMESPACE, labelSelector: PART_OF })
  for (const cm of list.items) {
    const name = cm.metadata?.name
    if (name && !keep.has(name)) await client().core.deleteNamespacedConfigMap({ name, namespace: NAMESPACE })
  }
}

/** The DaemonSet's and the store's rollout: { ready, why }. */
async function rollout() {
  const apps = client().kc.makeApiClient(k8s.AppsV1Api)
  const ds = await apps.readNamespacedDaemonSet({ name: DAEMONSET, namespace: NAMESPACE })
  const dep = await apps.readNamespacedDeployment({ name: LOG_STORE, namespace: NAMESPACE })
  /** @type {Partial<k8s.V1DaemonSetStatus>} */
  const s = ds.status ?? {}
  const dsDone = (s.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 0) && (s.desiredNumberScheduled ?? 0) > 0 &&
    s.updatedNumberScheduled === s.desiredNumberScheduled && s.numberAvailable === s.desiredNumberScheduled
  const store = deploymentRollout(dep, `${LOG_STORE} `)
  return {
    ready: dsDone && store.done,
    why: `DaemonSet ${s.numberAvailable ?? 0}/${s.desiredNumberScheduled ?? 0} available (${s.updatedNumberScheduled ?? 0} updated), ${store.why}`,
  }
}

/** Waits until the collector and the store are rolled out; fails with their state and the pods' waiting reasons. */
export const waitReady = (timeoutMs = 120000) => waitRolledOut(client(), NAMESPACE, 'the log collector', rollout, timeoutMs)

/**
 * Deletes the log store stand-in an older lab applied (a Deployment of the same name, rolling update, no volume): the
 * store's Recreate strategy cannot be applied over it. It held nothing.
 */
async function dropStandIn() {
  const apps = client().kc.makeApiClient(k8s.AppsV1Api)
  const dep = await apps.readNamespacedDeployment({ name: LOG_STORE, namespace: NAMESPACE }).catch(() => undefined)
  if (dep && dep.spec?.strategy?.type !== 'Recreate') {
    await apps.deleteNamespacedDeployment({ name: LOG_STORE, namespace: NAMESPACE, propagationPolicy: 'Foreground' })
    await pollUntil(() => apps.readNamespacedDeployment({ name: LOG_STORE, namespace: NAMESPACE }).then(() => false, () => true), {
      timeoutMs: 60000, everyMs: 500,
      onTimeout: () => new LabError('the log store stand-in is not gone after 60s', 'deleted, still there', 'look at its pods (`make lab-status`), then run `make lab-up`'),
    })
  }
}

export async function up() {
  const objects = await labObjects()
  await dropStandIn()
  for (const o of objects) await kubernetes.apply(o)
  await pruneConfigMaps(new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata?.name)))
  const { why } = await waitReady()
  return { note: `${NAMESPACE}: ${why}; log store ${await storeUrl()}` }
}

/** The store's URL from the host: its Ready pod's IP on the real node's pod network; a LabError when none is Ready. */
export async function storeUrl() {
  const pods = (await client().core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/name=${LOG_STORE}` })).items
  const ready = pods.find((p) => p.status?.podIP && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
  if (!ready) throw new LabError('the log store is not Ready', `no Ready pod of ${LOG_STORE} in ${NAMESPACE}`, 'run `make lab-up`, then `make lab-status`')
  return `http://${ready.status?.podIP}:${STORE_PORT}`
}

/** Nothing to stop: the cluster's own `down()` wipes its objects (the store's claim and its folder too). */
export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  return [{ name, state: r.ready ? 'ok' : 'missing', version: monitoring.OTELCOL_VERSION, address: `${NAMESPACE}: ${r.why}` }]
}

export function env() {
  return { LAB_LOG_NAMESPACE: NAMESPACE }
}

/** `image` with the digest its registry holds for it (kept for the components that import it from here). */
export { pinnedRef as pinned }
