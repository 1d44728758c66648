// The log collector in the lab's cluster, applied as the cluster owner (the lab admin): the bundle
// k8s/cluster/log-collector through its lab variant k8s/cluster/lab/log-collector (the collector on the real node and
// a log store stand-in that prints what it receives). The lab sets what only it knows: the images (LAB_IMAGE_OTELCOL,
// pinned by digest, so a rebuilt image rolls the pods), the real node's pod log folder (its kubelet's podLogsDir,
// mounted where the collector reads /var/log/pods) and a folder of the lab's for the collector's offsets.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import * as k8s from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { REPO, STATE } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { kubeClient, applyObject, deploymentRollout, messageOf, waitRolledOut } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import * as kustomize from './kustomize.mjs'
import * as monitoring from './monitoring.mjs'
import { pinnedRef } from '../lib/images.mjs'

export const name = 'log-collector'

/** The cluster owner's bundle, and the lab's variant of it. */
export const BUNDLE = path.join(REPO, 'k8s', 'cluster', 'log-collector')
export const LAB_BUNDLE = path.join(REPO, 'k8s', 'cluster', 'lab', 'log-collector')
export const NAMESPACE = 'graphmemory-logging'
export const DAEMONSET = 'otel-collector'
export const LOG_STORE = 'log-store'
/** The label every object of the bundle carries (stale generated ConfigMaps are found by it). */
const PART_OF = 'app.kubernetes.io/part-of=graphmemory-log-collector'
/** The image the bundle names; the lab runs its own build of the same release instead. */
const OFFICIAL_IMAGE = /^otel\/opentelemetry-collector-contrib:/
/** The real node's kubelet configuration (lab/components/node.mjs writes it). */
const KUBELET_CONFIG = path.join(STATE, 'node', 'kubelet-config.json')
/** Where the collector on the real node keeps its offsets (the bundle's /var/lib/graphmemory-otelcol). */
export const OFFSETS = path.join(STATE, 'log-collector', 'offsets')

let admin
const client = () => (admin ??= kubeClient(kubernetes.env().KUBECONFIG_LAB))

/** `kustomize build <dir>` with the lab's kustomize binary → the objects, in order. */
export async function render(dir) {
  const bin = path.join((await kustomize.build()).dir, 'kustomize')
  const r = await $`${bin} build ${dir}`.nothrow().quiet()
  if (r.exitCode !== 0) throw new LabError(`kustomize build ${path.relative(REPO, dir)} failed`, r.stderr.trim(), 'fix the bundle, then run `make lab-up`')
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean)
}

/** The real node's pod log folder: where its kubelet writes what /var/log/pods holds on other nodes. */
export function podLogsDir() {
  if (!fs.existsSync(KUBELET_CONFIG)) throw new LabError('no real node to collect logs on', `${KUBELET_CONFIG} is missing`, 'run `make lab-up` (node comes first)')
  return JSON.parse(fs.readFileSync(KUBELET_CONFIG, 'utf8')).podLogsDir
}

/** The lab variant's objects with the lab's images, the real node's log folder and the lab's offsets folder. */
export async function labObjects() {
  const image = await pinnedRef(monitoring.env().LAB_IMAGE_OTELCOL)
  const folders = { '/var/log/pods': podLogsDir(), '/var/lib/graphmemory-otelcol': OFFSETS }
  const objects = await render(LAB_BUNDLE)
  for (const o of objects) {
    const spec = o.spec?.template?.spec
    if (!spec) continue
    for (const c of spec.containers) if (OFFICIAL_IMAGE.test(c.image)) c.image = image
    for (const v of spec.volumes ?? []) if (folders[v.hostPath?.path]) v.hostPath.path = folders[v.hostPath.path]
  }
  return objects
}

/** Applies one object as the cluster owner; a refusal fails naming the object. */
export async function apply(obj) {
  try {
    await applyObject(client(), obj)
  } catch (err) {
    throw new LabError(`applying ${obj.kind} ${obj.metadata.name} failed`, messageOf(err), 'check `make lab-status`, then run `make lab-up` again')
  }
}

/** Deletes the generated ConfigMaps an earlier apply left (their names carry a hash of the content). */
async function pruneConfigMaps(keep) {
  const list = await client().core.listNamespacedConfigMap({ namespace: NAMESPACE, labelSelector: PART_OF })
  for (const cm of list.items) {
    if (!keep.has(cm.metadata.name)) await client().core.deleteNamespacedConfigMap({ name: cm.metadata.name, namespace: NAMESPACE })
  }
}

/** The DaemonSet's and the store's rollout: { ready, why }. */
async function rollout() {
  const apps = client().kc.makeApiClient(k8s.AppsV1Api)
  const ds = await apps.readNamespacedDaemonSet({ name: DAEMONSET, namespace: NAMESPACE })
  const dep = await apps.readNamespacedDeployment({ name: LOG_STORE, namespace: NAMESPACE })
  const s = ds.status ?? {}
  const dsDone = (s.observedGeneration ?? 0) >= ds.metadata.generation && s.desiredNumberScheduled > 0 &&
    s.updatedNumberScheduled === s.desiredNumberScheduled && s.numberAvailable === s.desiredNumberScheduled
  const store = deploymentRollout(dep, `${LOG_STORE} `)
  return {
    ready: dsDone && store.done,
    why: `DaemonSet ${s.numberAvailable ?? 0}/${s.desiredNumberScheduled ?? 0} available (${s.updatedNumberScheduled ?? 0} updated), ${store.why}`,
  }
}

/** Waits until the collector and the store are rolled out; fails with their state and the pods' waiting reasons. */
export const waitReady = (timeoutMs = 120000) => waitRolledOut(client(), NAMESPACE, 'the log collector', rollout, timeoutMs)

export async function up() {
  const objects = await labObjects()
  for (const o of objects) await apply(o)
  await pruneConfigMaps(new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name)))
  const { why } = await waitReady()
  return { note: `${NAMESPACE}: ${why}` }
}

/** Nothing to stop: the cluster's own `down()` wipes its objects. */
export async function down() {}

export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  return [{ name, state: r.ready ? 'ok' : 'missing', version: monitoring.OTELCOL_VERSION, address: `${NAMESPACE}: ${r.why}` }]
}

export function env() {
  return { LAB_LOG_NAMESPACE: NAMESPACE }
}

/** `image` with the digest its registry holds for it (kept for the components that import it from here). */
export { pinnedRef as pinned }
