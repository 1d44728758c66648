// The lab's own calls to its Kubernetes API server, through @kubernetes/client-node: a client per kubeconfig, server-side
// apply of exact objects, and errors that say what the API server answered.
import fs from 'node:fs'
import * as k8s from '@kubernetes/client-node'
import { LabError } from './step.mjs'
import { logFile, pollUntil } from './proc.mjs'
import { messageOf } from './errors.mjs'
import { ObjectApi } from '../../ci/src/adapters/object-api.mjs'

/** @typedef {ReturnType<typeof kubeClient>} KubeClient */

/** What names one object: its apiVersion, kind, name (and namespace). @typedef {{ apiVersion: string, kind: string, metadata: { name: string, namespace?: string } }} ObjectRef */

/**
 * An object as a bundle renders it (kustomize build): any kind, with the fields the lab reads or sets typed.
 * @typedef {k8s.KubernetesObject & { spec?: { [field: string]: unknown, template?: { spec?: k8s.V1PodSpec } }, data?: Record<string, string> }} BundleObject
 */

/**
 * Puts `image` in every container (of the objects' pod templates) whose image matches `official`: the lab runs its own
 * build of a release a bundle names. Changes the objects in place and returns them.
 * @template {BundleObject} T
 * @param {T[]} objects
 * @param {RegExp | ((image: string) => boolean)} official
 * @param {string} image
 */
export function setImages(objects, official, image) {
  const matches = typeof official === 'function' ? official : (/** @type {string} */ i) => official.test(i)
  for (const o of objects) for (const c of o.spec?.template?.spec?.containers ?? []) if (c.image && matches(c.image)) c.image = image
  return objects
}

/** The API server's own words for a refused request (defined in errors.mjs, where the poll loop also uses it). */
export { messageOf }

/** Field manager of everything the lab applies. */
export const FIELD_MANAGER = 'graphmemory-lab'

/**
 * HTTP status of a client error (0 when the server did not answer: refused connection, timeout, TLS).
 * @param {unknown} err
 */
export const statusOf = (err) => (err instanceof k8s.ApiException ? err.code : 0)

/**
 * Clients for one kubeconfig file: `core` (CoreV1Api), `objects` (apply/read/delete any kind), `kc`.
 * @param {string} kubeconfigFile
 */
export function kubeClient(kubeconfigFile) {
  const kc = new k8s.KubeConfig()
  kc.loadFromString(fs.readFileSync(kubeconfigFile, 'utf8'))
  return {
    kc,
    server: kc.getCurrentCluster()?.server ?? '',
    core: kc.makeApiClient(k8s.CoreV1Api),
    objects: kc.makeApiClient(ObjectApi),
    version: kc.makeApiClient(k8s.VersionApi),
    health: new k8s.Health(kc),
  }
}

/**
 * Server-side apply (create or update, idempotent); `obj` needs apiVersion, kind, metadata.name (and namespace).
 * `subresource` (e.g. 'status') applies to that subresource instead.
 * @template {k8s.KubernetesObject} T
 * @param {KubeClient} client
 * @param {T} obj
 * @param {string} [subresource]
 * @returns {Promise<T>}
 */
export const applyObject = (client, obj, subresource) => client.objects.applyExact(obj, { fieldManager: FIELD_MANAGER, subresource })

/**
 * Server-side apply of one object (applyObject), or a LabError that names the object and what the API server answered:
 * the lab's one way to apply and explain. `subresource` (e.g. 'status') applies to that subresource instead.
 * @template {k8s.KubernetesObject} T
 * @param {KubeClient} client
 * @param {T} obj
 * @param {string} [subresource]
 * @returns {Promise<T>}
 */
export async function applyOrExplain(client, obj, subresource) {
  try {
    return await applyObject(client, obj, subresource)
  } catch (err) {
    const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''
    throw new LabError(`applying ${obj.kind} ${ns}${obj.metadata?.name}${subresource ? ` (${subresource})` : ''} failed`,
      `API server answered ${messageOf(err)}`, `see ${logFile('kube-apiserver')} and \`make lab-status\`, then run \`make lab-up\` again`)
  }
}

/**
 * True when the API server answers /readyz with 200 within timeoutMs.
 * @param {KubeClient} client
 * @returns {Promise<boolean>}
 */
export const apiReady = (client, timeoutMs = 3000) =>
  client.health.readyz({ signal: AbortSignal.timeout(timeoutMs) }).catch(() => false)

/**
 * Resolves the object, or undefined when it does not exist (404). `T` is the kind's type (default: any object).
 * @template {k8s.KubernetesObject} [T=k8s.KubernetesObject]
 * @param {KubeClient} client
 * @param {ObjectRef} ref
 * @returns {Promise<T | undefined>}
 */
export async function readObject(client, ref) {
  try {
    return /** @type {T} */ (await client.objects.read(ref))
  } catch (err) {
    if (statusOf(err) === 404) return undefined
    throw err
  }
}

/**
 * Deletes an object; true when it existed.
 * @param {KubeClient} client
 * @param {ObjectRef} ref
 */
export async function deleteObject(client, ref) {
  try {
    await client.objects.delete(ref)
    return true
  } catch (err) {
    if (statusOf(err) === 404) return false
    throw err
  }
}

/**
 * True when a node's Ready condition is True.
 * @param {k8s.V1Node | undefined} node
 */
export const nodeIsReady = (node) => Boolean(node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))

/**
 * A Deployment's rollout as its status says: done when every replica is updated and available, and where it stands.
 * @param {k8s.V1Deployment} dep
 */
export function deploymentRollout(dep, label = '') {
  const d = dep.status ?? {}
  const replicas = dep.spec?.replicas
  const done = (d.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0) && d.updatedReplicas === replicas &&
    d.availableReplicas === replicas && !d.unavailableReplicas
  return { done, why: `${label}${d.availableReplicas ?? 0}/${replicas} available (${d.updatedReplicas ?? 0} updated)` }
}

/**
 * A Deployment's rollout as the API server has it now: { ready, why } (deploymentRollout; `label` prefixes why).
 * @param {KubeClient} client
 * @param {string} namespace
 * @param {string} name
 */
export async function readRollout(client, namespace, name, label = '') {
  const dep = await client.kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name, namespace })
  const { done, why } = deploymentRollout(dep, label)
  return { ready: done, why }
}

/**
 * Waits until the namespace's `default` ServiceAccount exists (the controller-manager makes it; pods cannot be created
 * before it); a LabError after timeoutMs.
 * @param {k8s.CoreV1Api} core
 * @param {string} namespace
 */
export async function waitDefaultServiceAccount(core, namespace, timeoutMs = 60000) {
  await pollUntil(() => core.readNamespacedServiceAccount({ name: 'default', namespace }), {
    timeoutMs, everyMs: 250, describe: () => 'not made yet',
    onTimeout: (_, seen) => new LabError(`the default ServiceAccount of ${namespace} is not there after ${timeoutMs / 1000}s`,
      seen, `see ${logFile('kube-controller-manager')}, then run \`make lab-up\` again`),
  })
}

/**
 * Polls `rollout` (resolving to { ready, why }) every second until ready; after `timeoutMs` fails naming `what`, where
 * the rollout stands and the waiting or terminated state of every pod of the namespace.
 * @template {{ ready: boolean, why?: string }} R
 * @param {KubeClient} client
 * @param {string} namespace
 * @param {string} what
 * @param {() => Promise<R>} rollout
 * @returns {Promise<R>}
 */
export async function waitRolledOut(client, namespace, what, rollout, timeoutMs = 120000) {
  return pollUntil(rollout, {
    timeoutMs, everyMs: 1000, done: (r) => r.ready, describe: (r) => r.why ?? 'not ready',
    onTimeout: async (_, seen) => new LabError(`${what} is not ready`,
      `${seen}\n${(await podStates(client, namespace)).join('\n')}`,
      `see \`kubectl -n ${namespace} describe pods\` with KUBECONFIG_LAB, then run \`make lab-up\` again`),
  })
}

/**
 * One line per pod of the namespace: its node, phase and every container's waiting or terminated state.
 * @param {KubeClient} client
 * @param {string} namespace
 */
export async function podStates(client, namespace) {
  const pods = await client.core.listNamespacedPod({ namespace })
  return pods.items.map((p) => `${p.metadata?.name} on ${p.spec?.nodeName ?? '-'}: ${p.status?.phase} ` +
    `${(p.status?.containerStatuses ?? []).map((c) => JSON.stringify(c.state?.waiting ?? c.state?.terminated ?? {})).join(' ')}`)
}
