// kube-state-metrics in the lab's cluster, applied as the cluster owner (the lab admin): the bundle
// k8s/cluster/kube-state-metrics through its lab variant k8s/cluster/lab/kube-state-metrics (on the real node). The
// lab sets its image to LAB_IMAGE_KUBE_STATE_METRICS pinned by digest, so a rebuilt image, same tag, rolls the pod.
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { REPO } from '../lib/paths.mjs'
import { LabError } from '../lib/step.mjs'
import { kubeClient, applyObject, messageOf } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import * as monitoring from './monitoring.mjs'
import { render, pinned } from './log-collector.mjs'

export { render }

/** Its row in `make lab-status` (monitoring's row `kube-state-metrics` is the image). */
export const name = 'kube-state-metrics/cluster'

/** The cluster owner's bundle, and the lab's variant of it. */
export const BUNDLE = path.join(REPO, 'k8s', 'cluster', 'kube-state-metrics')
export const LAB_BUNDLE = path.join(REPO, 'k8s', 'cluster', 'lab', 'kube-state-metrics')
export const NAMESPACE = 'graphmemory-kube-state-metrics'
export const DEPLOYMENT = 'kube-state-metrics'
/** Where each environment's Prometheus scrapes it (monitoring/prometheus/prometheus.yml). */
export const ADDRESS = `${DEPLOYMENT}.${NAMESPACE}.svc:8080`
/** The image the bundle names; the lab runs its own build of the same release instead. */
const OFFICIAL_IMAGE = /^registry\.k8s\.io\/kube-state-metrics\/kube-state-metrics:/

let admin
const client = () => (admin ??= kubeClient(kubernetes.env().KUBECONFIG_LAB))

/** The lab variant's objects with the lab's image, pinned by the mirror's digest. */
export async function labObjects() {
  const image = await pinned(monitoring.env().LAB_IMAGE_KUBE_STATE_METRICS)
  const objects = await render(LAB_BUNDLE)
  for (const o of objects) {
    for (const c of o.spec?.template?.spec?.containers ?? []) if (OFFICIAL_IMAGE.test(c.image)) c.image = image
  }
  return objects
}

/** The Deployment's rollout: { ready, why }. */
async function rollout() {
  const apps = client().kc.makeApiClient(k8s.AppsV1Api)
  const dep = await apps.readNamespacedDeployment({ name: DEPLOYMENT, namespace: NAMESPACE })
  const d = dep.status ?? {}
  const ready = (d.observedGeneration ?? 0) >= dep.metadata.generation && d.updatedReplicas === dep.spec.replicas &&
    d.availableReplicas === dep.spec.replicas && !d.unavailableReplicas
  return { ready, why: `${d.availableReplicas ?? 0}/${dep.spec.replicas} available (${d.updatedReplicas ?? 0} updated)` }
}

/** Waits until it is rolled out; fails with its state and the pods' waiting reasons. */
export async function waitReady(timeoutMs = 120000) {
  const until = Date.now() + timeoutMs
  let last
  while (Date.now() < until) {
    last = await rollout()
    if (last.ready) return last
    await new Promise((r) => setTimeout(r, 1000))
  }
  const pods = await client().core.listNamespacedPod({ namespace: NAMESPACE })
  const states = pods.items.map((p) => `${p.metadata.name} on ${p.spec.nodeName ?? '-'}: ${p.status?.phase} ` +
    `${(p.status?.containerStatuses ?? []).map((c) => JSON.stringify(c.state?.waiting ?? c.state?.terminated ?? {})).join(' ')}`)
  throw new LabError('kube-state-metrics is not ready', `${last?.why}\n${states.join('\n')}`,
    `see \`kubectl -n ${NAMESPACE} describe pods\` with KUBECONFIG_LAB, then run \`make lab-up\` again`)
}

export async function up() {
  for (const o of await labObjects()) {
    try {
      await applyObject(client(), o)
    } catch (err) {
      throw new LabError(`applying ${o.kind} ${o.metadata.name} failed`, messageOf(err), 'check `make lab-status`, then run `make lab-up` again')
    }
  }
  const { why } = await waitReady()
  return { note: `${NAMESPACE}: ${why}` }
}

/** Nothing to stop: the cluster's own `down()` wipes its objects. */
export async function down() {}

export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  return [{ name, state: r.ready ? 'ok' : 'missing', version: monitoring.KUBE_STATE_METRICS_VERSION, address: `${ADDRESS}: ${r.why}` }]
}

export function env() {
  return { LAB_KUBE_STATE_METRICS: `http://${ADDRESS}` }
}
