// kube-state-metrics in the lab's cluster, applied as the cluster owner (the lab admin): the bundle
// k8s/cluster/kube-state-metrics through its lab variant k8s/cluster/lab/kube-state-metrics (on the real node). The
// lab sets its image to LAB_IMAGE_KUBE_STATE_METRICS pinned by digest, so a rebuilt image, same tag, rolls the pod.
import { messageOf, readRollout, setImages, waitRolledOut } from '../lib/kube.mjs'
import * as kubernetes from './kubernetes.mjs'
import { apply } from './kubernetes.mjs'
import * as monitoring from './monitoring.mjs'
import { clusterBundle, render } from './kustomize.mjs'
import { pinnedRef } from '../lib/images.mjs'

export { render }

/** Its row in `make lab-status` (monitoring's row `kube-state-metrics` is the image). */
export const name = 'kube-state-metrics/cluster'

/** The cluster owner's bundle, and the lab's variant of it. */
export const { BUNDLE, LAB_BUNDLE } = clusterBundle('kube-state-metrics')
export const NAMESPACE = 'graphmemory-kube-state-metrics'
export const DEPLOYMENT = 'kube-state-metrics'
/** Where each environment's Prometheus scrapes it (monitoring/prometheus/prometheus.yml). */
export const ADDRESS = `${DEPLOYMENT}.${NAMESPACE}.svc:8080`
/** The image the bundle names; the lab runs its own build of the same release instead. */
const OFFICIAL_IMAGE = /^registry\.k8s\.io\/kube-state-metrics\/kube-state-metrics:/

const client = kubernetes.adminClient

/** The lab variant's objects with the lab's image, pinned by the mirror's digest. */
export async function labObjects() {
  const image = await pinnedRef(monitoring.env().LAB_IMAGE_KUBE_STATE_METRICS)
  return setImages(await render(LAB_BUNDLE), OFFICIAL_IMAGE, image)
}

/** The Deployment's rollout: { ready, why }. */
const rollout = () => readRollout(client(), NAMESPACE, DEPLOYMENT)

/** Waits until it is rolled out; fails with its state and the pods' waiting reasons. */
export const waitReady = (timeoutMs = 120000) => waitRolledOut(client(), NAMESPACE, 'kube-state-metrics', rollout, timeoutMs)

export async function up() {
  for (const o of await labObjects()) await apply(o)
  const { why } = await waitReady()
  return { note: `${NAMESPACE}: ${why}` }
}

/** Nothing to stop: the cluster's own `down()` wipes its objects. */
export async function down() {}

/** @returns {Promise<import('./component.js').StatusRow[]>} */
export async function status() {
  const r = await rollout().catch((err) => ({ ready: false, why: messageOf(err) }))
  return [{ name, state: r.ready ? 'ok' : 'missing', version: monitoring.KUBE_STATE_METRICS_VERSION, address: `${ADDRESS}: ${r.why}` }]
}

export function env() {
  return { LAB_KUBE_STATE_METRICS: `http://${ADDRESS}` }
}
