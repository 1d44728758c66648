// The lab's own calls to its Kubernetes API server, through @kubernetes/client-node: a client per kubeconfig, server-side
// apply of exact objects, and errors that say what the API server answered.
import fs from 'node:fs'
import * as k8s from '@kubernetes/client-node'
import { LabError } from './step.mjs'
import { ObjectApi } from '../../ci/src/adapters/object-api.mjs'

/** Field manager of everything the lab applies. */
export const FIELD_MANAGER = 'graphmemory-lab'

/** HTTP status of a client error (0 when the server did not answer: refused connection, timeout, TLS). */
export const statusOf = (err) => (err instanceof k8s.ApiException ? err.code : 0)

/** The API server's own words for a refused request. */
export function messageOf(err) {
  if (!(err instanceof k8s.ApiException)) return err?.message ?? String(err)
  let body = err.body
  if (typeof body === 'string') {
    try { body = JSON.parse(body) } catch { return `${err.code}: ${body}` }
  }
  return `${err.code}${body?.reason ? ` ${body.reason}` : ''}${body?.message ? `: ${body.message}` : ''}`
}

/** Clients for one kubeconfig file: `core` (CoreV1Api), `objects` (apply/read/delete any kind), `kc`. */
export function kubeClient(kubeconfigFile) {
  const kc = new k8s.KubeConfig()
  kc.loadFromString(fs.readFileSync(kubeconfigFile, 'utf8'))
  return {
    kc,
    server: kc.getCurrentCluster().server,
    core: kc.makeApiClient(k8s.CoreV1Api),
    objects: kc.makeApiClient(ObjectApi),
    version: kc.makeApiClient(k8s.VersionApi),
    health: new k8s.Health(kc),
  }
}

/**
 * Server-side apply (create or update, idempotent); `obj` needs apiVersion, kind, metadata.name (and namespace).
 * `subresource` (e.g. 'status') applies to that subresource instead.
 */
export const applyObject = (client, obj, subresource) => client.objects.applyExact(obj, { fieldManager: FIELD_MANAGER, subresource })

/** True when the API server answers /readyz with 200 within timeoutMs. */
export const apiReady = (client, timeoutMs = 3000) =>
  client.health.readyz({ signal: AbortSignal.timeout(timeoutMs) }).catch(() => false)

/** Resolves the object, or undefined when it does not exist (404). */
export async function readObject(client, ref) {
  try {
    return await client.objects.read(ref)
  } catch (err) {
    if (statusOf(err) === 404) return undefined
    throw err
  }
}

/** Deletes an object; true when it existed. */
export async function deleteObject(client, ref) {
  try {
    await client.objects.delete(ref)
    return true
  } catch (err) {
    if (statusOf(err) === 404) return false
    throw err
  }
}

/** True when a node's Ready condition is True. */
export const nodeIsReady = (node) => Boolean(node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))

/** A Deployment's rollout as its status says: done when every replica is updated and available, and where it stands. */
export function deploymentRollout(dep, label = '') {
  const d = dep.status ?? {}
  const done = (d.observedGeneration ?? 0) >= dep.metadata.generation && d.updatedReplicas === dep.spec.replicas &&
    d.availableReplicas === dep.spec.replicas && !d.unavailableReplicas
  return { done, why: `${label}${d.availableReplicas ?? 0}/${dep.spec.replicas} available (${d.updatedReplicas ?? 0} updated)` }
}

/**
 * Polls `rollout` (resolving to { ready, why }) every second until ready; after `timeoutMs` fails naming `what`, where
 * the rollout stands and the waiting or terminated state of every pod of the namespace.
 */
export async function waitRolledOut(client, namespace, what, rollout, timeoutMs = 120000) {
  const until = Date.now() + timeoutMs
  let last
  while (Date.now() < until) {
    last = await rollout()
    if (last.ready) return last
    await new Promise((r) => setTimeout(r, 1000))
  }
  const pods = await client.core.listNamespacedPod({ namespace })
  const states = pods.items.map((p) => `${p.metadata.name} on ${p.spec.nodeName ?? '-'}: ${p.status?.phase} ` +
    `${(p.status?.containerStatuses ?? []).map((c) => JSON.stringify(c.state?.waiting ?? c.state?.terminated ?? {})).join(' ')}`)
  throw new LabError(`${what} is not ready`, `${last?.why}\n${states.join('\n')}`,
    `see \`kubectl -n ${namespace} describe pods\` with KUBECONFIG_LAB, then run \`make lab-up\` again`)
}
